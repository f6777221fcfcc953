//! schema placeholder
