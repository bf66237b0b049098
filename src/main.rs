use std::process::ExitCode;

fn main() -> ExitCode {
    checker::app::main()
}
