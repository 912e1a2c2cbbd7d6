use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use ringstep::cli::{self, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = match cli.command {
        Some(Command::Trace(args)) => cli::run_trace(&args, &mut out),
        Some(Command::Gdbserver(args)) => cli::run_gdbserver(&args, &mut std::io::stderr()),
        Some(Command::Asm(args)) => cli::assemble(&args, &mut out),
        Some(Command::Presets) => cli::list_presets(&mut out)
            .map_err(|e| cli::UsageError(format!("writing the list: {e}"))),
        Some(Command::List(args)) => cli::list_lessons(&args, &mut out),
        Some(Command::Cost(args)) => cli::print_cost(&args, &mut out),
        Some(Command::Check(args)) => {
            let ok = cli::check_lessons(&args, &mut out);
            let _ = out.flush();
            return match ok {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("ringstep: writing the report: {e}");
                    ExitCode::from(1)
                }
            };
        }
        Some(Command::Export(args)) => ringstep::export::command::run_export(&args, &mut out),
        Some(Command::Render(args)) => ringstep::export::command::run_render(&args, &mut out),
        Some(Command::Completions { shell }) => cli::completions(shell, &mut out),
        Some(Command::Man { subcommand }) => cli::man_page(subcommand.as_deref(), &mut out),
        Some(Command::Boot(args)) => {
            drop(out);
            return ExitCode::from(ringstep::tui::main(&cli::boot_run_args(&args)));
        }
        Some(Command::Run(args)) => {
            drop(out);
            return ExitCode::from(ringstep::tui::main(&args));
        }
        None => match cli::check_bare_lesson(&cli.run) {
            Ok(()) => {
                drop(out);
                return ExitCode::from(ringstep::tui::main(&cli.run));
            }
            Err(e) => Err(e),
        },
    };
    let _ = out.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringstep: {e}");
            ExitCode::from(2)
        }
    }
}
