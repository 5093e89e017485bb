//! The `subinvite` binary: everything lives in the library; see `cli`.

/// The store allocates and frees many small node copies; mimalloc does that
/// markedly faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    subinvite::cli::main()
}
