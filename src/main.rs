//! The `stanch` binary: all behaviour lives in the library; see `stanch::cli`.

// Recording a batch is allocation-heavy (JSON trees, owned rows) on several threads at once;
// mimalloc measured about 1.5× the pipeline's throughput of glibc's allocator (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    stanch::cli::main()
}
