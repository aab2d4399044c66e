//! The `tacctl` binary: parses the command line and maps errors to exit codes.

fn main() {
    if let Err(err) = tacctl::cli::run() {
        eprintln!("error: {}", tacctl::cli::error_message(&err));
        std::process::exit(tacctl::cli::exit_code(&err));
    }
}
