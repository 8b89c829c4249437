//! `pylua server build | add | serve`: parses arguments, calls [`pylua::operations::server`]
//! and renders its report as text or `--json`.

use crate::packages::ServerArgs;
use clap::Subcommand;
use pylua::operations::server::{self, BuildRequest, ServerReport};
use serde_json::json;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ServerCommand {
    /// Write a LuaRocks server into DIR: rockspecs, .src.rocks, manifest and manifest-5.x
    /// (with --binary, binary rocks built here too). Any static web server can serve DIR.
    Build {
        /// The server directory (created when missing).
        dir: PathBuf,
        /// The packages to put on it (NAME or NAME@CONSTRAINT), with their dependencies.
        #[arg(value_name = "PACKAGE", conflicts_with = "from_lock")]
        packages: Vec<String>,
        /// Put exactly the packages, files and sha256s of this pylua.lock on it.
        #[arg(long, value_name = "PYLUA_LOCK")]
        from_lock: Option<PathBuf>,
        /// Also build each package here for --lua and write NAME-VERSION.ARCH.rock (or
        /// .all.rock for pure-Lua packages), as `luarocks pack` does.
        #[arg(long)]
        binary: bool,
        #[command(flatten)]
        servers: ServerArgs,
    },
    /// Add rockspecs and rocks to a server directory and rewrite its manifests atomically.
    Add {
        dir: PathBuf,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// List binary rocks among FILE for this Lua only (5.1 … 5.4).
        #[arg(long, value_name = "VERSION", value_parser = ["5.1", "5.2", "5.3", "5.4"])]
        lua: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Serve a server directory over HTTP (for tests and small teams); prints the URL.
    Serve {
        dir: PathBuf,
        /// The port (0: a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// Print the URL as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: ServerCommand) -> ExitCode {
    match command {
        ServerCommand::Build {
            dir,
            packages,
            from_lock,
            binary,
            servers,
        } => {
            let options = match servers.options() {
                Ok(o) => o,
                Err(code) => return code,
            };
            let request = BuildRequest {
                dir,
                from_lock,
                packages,
                binary,
                lua: servers.external(),
            };
            render(server::build(&options, &request), servers.json)
        }
        ServerCommand::Add {
            dir,
            files,
            lua,
            json,
        } => render(server::add(&dir, &files, lua.as_deref()), json),
        ServerCommand::Serve {
            dir,
            port,
            bind,
            json,
        } => match server::Serving::bind(&dir, &bind, port) {
            Ok(serving) => {
                let url = serving.url();
                if json {
                    println!("{}", json!({"ok": true, "result": {"url": url}}));
                } else {
                    println!("Serving {} at {url}/", dir.display());
                    println!("Use it with: pylua install PACKAGE --server {url}");
                }
                let _ = std::io::stdout().flush();
                serving.run()
            }
            Err(e) => crate::render::failure(e.kind(), &e.to_string(), json),
        },
    }
}

fn render(result: Result<ServerReport, server::ServerError>, json_output: bool) -> ExitCode {
    match result {
        Ok(report) => {
            if json_output {
                println!("{}", json!({"ok": true, "result": report}));
            } else {
                for f in &report.files {
                    println!("{:<7} {}", f.how, f.file);
                }
                if let Some(lua) = &report.binary_lua {
                    println!("Binary rocks are for Lua {lua}.");
                }
                for s in &report.skipped {
                    println!("skipped {s}");
                }
                println!(
                    "{}: manifests list {} file{}.",
                    report.dir,
                    report.listed,
                    if report.listed == 1 { "" } else { "s" }
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => crate::render::failure(e.kind(), &e.to_string(), json_output),
    }
}
