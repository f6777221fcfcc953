//! The `stanch` binary: all behaviour lives in the library; see `stanch::cli`.

fn main() -> std::process::ExitCode {
    stanch::cli::main()
}
