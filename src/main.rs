//! The `referent` command: parse arguments, then hand over to the library.

fn main() -> std::process::ExitCode {
    referent::cli::main()
}
