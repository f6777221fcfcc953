//! Client tests against real HTTP: scripted axum servers on 127.0.0.1:0.

mod answers;
mod batch;
mod governor;
mod mock;
mod send;
mod token;
