//! Project templates for `pylua init --template NAME`: the files a new project starts with,
//! and the `[run]` settings they need in `pylua.toml`.
//!
//! * `http-client`: `main.lua URL` fetches the URL through `net`, decodes the JSON with a
//!   pure-Lua decoder in the same file (strict code has no `require`) and prints it; it runs
//!   under the strict sandbox with `--allow-net`.
//! * `cli`: a command-line program (`main.lua` + `app.lua`) with busted specs.
//! * `library`: a module under `src/`, a rockspec and busted specs.

use super::ProjectError;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A project template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    HttpClient,
    Cli,
    Library,
}

impl FromStr for Template {
    type Err = String;
    fn from_str(s: &str) -> Result<Template, String> {
        match s {
            "http-client" | "http_client" => Ok(Template::HttpClient),
            "cli" => Ok(Template::Cli),
            "library" | "lib" => Ok(Template::Library),
            other => Err(format!(
                "unknown template '{other}': expected http-client, cli or library"
            )),
        }
    }
}

const BUSTED: &str = "return {\n  default = {\n    lpath = \"./src/?.lua;./?.lua\",\n    ROOT = { \"spec\" },\n  },\n}\n";
const GITIGNORE: &str = ".pylua/\n";

impl Template {
    pub fn name(self) -> &'static str {
        match self {
            Template::HttpClient => "http-client",
            Template::Cli => "cli",
            Template::Library => "library",
        }
    }

    /// The files of the template for a project named `name`, by relative path.
    pub fn files(self, name: &str) -> Vec<(String, String)> {
        let module = module_name(name);
        let fill = |text: &str| {
            text.replace("@MODULE@", &module)
                .replace("@PACKAGE@", &package_name(name))
        };
        let mut files = vec![(".gitignore".to_string(), GITIGNORE.to_string())];
        match self {
            Template::HttpClient => {
                files.push((
                    "main.lua".into(),
                    include_str!("templates/http_client.lua").into(),
                ));
            }
            Template::Cli => {
                files.push(("main.lua".into(), include_str!("templates/cli.lua").into()));
                files.push((
                    "app.lua".into(),
                    include_str!("templates/cli_app.lua").into(),
                ));
                files.push((
                    "spec/app_spec.lua".into(),
                    include_str!("templates/cli_spec.lua").into(),
                ));
                files.push((".busted".into(), BUSTED.into()));
            }
            Template::Library => {
                files.push((
                    format!("src/{module}.lua"),
                    fill(include_str!("templates/library.lua")),
                ));
                files.push((
                    format!("spec/{module}_spec.lua"),
                    fill(include_str!("templates/library_spec.lua")),
                ));
                files.push((
                    format!("{}-dev-1.rockspec", package_name(name)),
                    fill(include_str!("templates/library.rockspec")),
                ));
                files.push((".busted".into(), BUSTED.into()));
            }
        }
        files
    }

    /// Lines appended to the new `pylua.toml`.
    pub fn project_settings(self) -> &'static str {
        match self {
            Template::HttpClient => concat!(
                "\n[run]\n",
                "# Scripts get `net` only for the hosts named here or with --allow-net.\n",
                "sandbox = \"strict\"\n",
                "timeout = \"60s\"\n",
                "# allow-net = [\"api.example.com\"]\n",
                "# net-max-response = \"8M\"\n",
                "# The LuaSocket variant: `pylua add luasocket`, then --sandbox none.\n",
            ),
            Template::Cli => "\n[run]\nsandbox = \"standard\"\n",
            Template::Library => "\n[dev-dependencies]\n# busted = \"~> 2\"   (`pylua add --dev busted` to run the specs)\n",
        }
    }

    /// Writes the template's files into `dir` (never over an existing file) and appends its
    /// settings to `project_file`. Returns the files written.
    pub fn write(
        self,
        dir: &Path,
        name: &str,
        project_file: &Path,
    ) -> Result<Vec<PathBuf>, ProjectError> {
        let io = |p: &Path, e: std::io::Error| ProjectError::Io(format!("{}: {e}", p.display()));
        let files = self.files(name);
        for (rel, _) in &files {
            let path = dir.join(rel);
            if path.exists() {
                return Err(ProjectError::Usage(format!(
                    "{} already exists: the {} template would overwrite it",
                    path.display(),
                    self.name()
                )));
            }
        }
        let mut written = Vec::new();
        for (rel, text) in files {
            let path = dir.join(&rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
            }
            std::fs::write(&path, text).map_err(|e| io(&path, e))?;
            written.push(path);
        }
        let mut toml = std::fs::read_to_string(project_file).map_err(|e| io(project_file, e))?;
        toml.push_str(self.project_settings());
        crate::packages::cache::write_atomic(project_file, toml.as_bytes())
            .map_err(|e| io(project_file, e))?;
        Ok(written)
    }
}

/// A Lua module name from a project name: letters, digits and `_`, not starting with a digit.
fn module_name(name: &str) -> String {
    let mut m: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if m.is_empty() || m.starts_with(|c: char| c.is_ascii_digit()) {
        m.insert(0, 'm');
    }
    m
}

/// A rocks package name: lower case letters, digits, `-`, `_` and `.`.
fn package_name(name: &str) -> String {
    let p: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if p.is_empty() {
        "project".into()
    } else {
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_safe() {
        assert_eq!(module_name("my-lib 2"), "my_lib_2");
        assert_eq!(module_name("9x"), "m9x");
        assert_eq!(package_name("My Lib/../x"), "my-lib-..-x");
        let files = Template::Library.files("../evil");
        assert!(files.iter().all(|(p, _)| !p.contains("../")), "{files:?}");
    }
}
