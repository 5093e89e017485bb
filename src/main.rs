//! The `subinvite` binary: everything lives in the library; see `cli`.
fn main() -> std::process::ExitCode {
    subinvite::cli::main()
}
