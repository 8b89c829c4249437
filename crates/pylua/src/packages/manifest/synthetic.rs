//! A synthetic manifest at luarocks.org scale, for benchmarks and tests only (the
//! `synthetic` feature; never part of a normal build).

/// Packages in the synthetic manifest the benchmark and `examples/gen_manifest.rs` use by
/// default: about the size of the luarocks.org root manifest.
#[doc(hidden)]
pub const SYNTHETIC_PACKAGES: usize = 5_000;

/// A deterministic manifest in the luarocks.org layout with `packages` packages (about 13
/// versions each on average, a few with old-style `modules`/`commands`/`dependencies`).
#[doc(hidden)]
pub fn synthetic(packages: usize, seed: u64) -> String {
    synth::generate(packages, seed)
}

mod synth {
    use std::collections::BTreeSet;
    use std::fmt::Write as _;

    /// xorshift64* seeded through splitmix64.
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Rng {
            let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            Rng((z ^ (z >> 31)) | 1)
        }

        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// Uniform in 0..n (n > 0).
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        /// True with probability `percent`/100.
        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }

        fn pick<'s>(&mut self, items: &[&'s str]) -> &'s str {
            items[self.below(items.len() as u64) as usize]
        }
    }

    const PREFIXES: &[&str] = &[
        "",
        "",
        "",
        "",
        "lua-",
        "lua-",
        "l",
        "resty-",
        "lua-resty-",
        "kong-plugin-",
        "apisix-",
        "luv-",
        "moon",
        "tl-",
        "nvim-",
        "lapis-",
        "busted-",
    ];
    const WORDS: &[&str] = &[
        "socket",
        "cjson",
        "filesystem",
        "penlight",
        "http",
        "json",
        "yaml",
        "lpeg",
        "argparse",
        "date",
        "utf8",
        "ssl",
        "redis",
        "mysql",
        "postgres",
        "template",
        "uuid",
        "base64",
        "md5",
        "sha2",
        "zlib",
        "xml",
        "csv",
        "serpent",
        "inspect",
        "log",
        "path",
        "term",
        "cqueues",
        "openssl",
        "curl",
        "websocket",
        "jwt",
        "cache",
        "lru",
        "queue",
        "promise",
        "coro",
        "sqlite3",
        "dkjson",
        "lustache",
        "etlua",
        "ansicolors",
        "luacheck",
        "stdlib",
        "class",
        "middleclass",
        "vector",
        "matrix",
        "bit32",
        "struct",
        "pack",
        "iconv",
        "posix",
        "signal",
        "timer",
        "event",
        "mqtt",
        "grpc",
        "protobuf",
        "msgpack",
        "toml",
        "ini",
        "dotenv",
        "i18n",
        "markdown",
        "html",
        "router",
        "session",
        "cookie",
        "cors",
        "auth",
        "acl",
        "rate-limit",
        "metrics",
        "tracing",
        "prometheus",
        "statsd",
        "consul",
        "etcd",
        "kafka",
        "nats",
        "amqp",
        "s3",
        "crypto",
        "hmac",
        "bcrypt",
        "argon2",
        "random",
        "fun",
        "lume",
        "moses",
        "tween",
        "compat53",
        "luassert",
        "say",
        "mediator",
        "system",
        "luafilesystem",
        "lanes",
        "effil",
    ];
    const SUFFIXES: &[&str] = &[
        "", "", "", "", "", "", "-ng", "2", "-lite", "-ffi", "x", "-utils", "-core", ".nvim",
        "-client", "-server",
    ];
    const LUA_KEYWORDS: &[&str] = &[
        "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
        "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
    ];

    fn is_identifier(s: &str) -> bool {
        let mut bytes = s.bytes();
        matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !LUA_KEYWORDS.contains(&s)
    }

    fn key(out: &mut String, name: &str) {
        if is_identifier(name) {
            out.push_str(name);
        } else {
            let _ = write!(out, "[\"{name}\"]");
        }
    }

    fn names(rng: &mut Rng, count: usize) -> Vec<String> {
        let mut seen = BTreeSet::new();
        while seen.len() < count {
            let mut name = String::new();
            // A few old packages have capitals in their names (LuaRocks matches them
            // case-insensitively).
            name.push_str(if rng.chance(2) {
                "Lua"
            } else {
                rng.pick(PREFIXES)
            });
            name.push_str(rng.pick(WORDS));
            if rng.chance(25) {
                name.push('-');
                name.push_str(rng.pick(WORDS));
            }
            name.push_str(rng.pick(SUFFIXES));
            if seen.contains(&name) {
                let _ = write!(name, "{}", 2 + rng.below(40));
            }
            seen.insert(name);
        }
        seen.into_iter().collect()
    }

    /// Versions of one package, oldest first.
    fn versions(rng: &mut Rng) -> Vec<String> {
        let count = match rng.below(100) {
            0..=39 => 1 + rng.below(4),
            40..=69 => 4 + rng.below(8),
            70..=89 => 12 + rng.below(18),
            _ => 30 + rng.below(40),
        };
        let mut out = Vec::with_capacity(count as usize + 1);
        let (mut major, mut minor, mut patch) = (rng.below(3), rng.below(10), rng.below(5));
        let three = rng.chance(70);
        while out.len() < count as usize {
            let revisions = if rng.chance(85) { 1 } else { 1 + rng.below(3) };
            for rev in 1..=revisions {
                let v = if three {
                    format!("{major}.{minor}.{patch}-{rev}")
                } else {
                    format!("{major}.{minor}-{rev}")
                };
                out.push(v);
            }
            match rng.below(100) {
                0..=59 => patch += 1 + rng.below(2),
                60..=89 => {
                    minor += 1;
                    patch = 0;
                }
                _ => {
                    major += 1;
                    minor = 0;
                    patch = 0;
                }
            }
            if !three && patch > 0 {
                minor += patch;
                patch = 0;
            }
        }
        out.truncate(count as usize);
        if rng.chance(15) {
            out.push(if rng.chance(80) { "scm-1" } else { "dev-1" }.to_string());
        }
        out
    }

    fn archs(rng: &mut Rng, version: &str) -> Vec<&'static str> {
        let mut archs = vec!["rockspec"];
        if version.starts_with("scm") || version.starts_with("dev") {
            return archs;
        }
        match rng.below(100) {
            0..=69 => archs.push("src"),
            70..=84 => archs.push("all"),
            85..=89 => {
                archs.push("src");
                archs.push("all");
            }
            _ => {}
        }
        if rng.chance(6) {
            archs.push(rng.pick(&[
                "linux-x86_64",
                "macosx-x86_64",
                "win32-x86",
                "macosx-aarch64",
            ]));
        }
        archs
    }

    fn old_style_fields(rng: &mut Rng, out: &mut String, name: &str, words: &[&str]) {
        let ind = "            ";
        out.push_str(",\n");
        let _ = writeln!(out, "{ind}commands = {{}},");
        let _ = write!(out, "{ind}dependencies = {{");
        let deps = rng.below(3);
        for i in 0..deps {
            out.push_str(if i == 0 { "\n" } else { ",\n" });
            let _ = write!(
                out,
                "{ind}   {} = \"{}.{}-1\"",
                rng.pick(words).replace('-', "_"),
                rng.below(3),
                rng.below(10)
            );
        }
        if deps > 0 {
            let _ = write!(out, "\n{ind}");
        }
        out.push_str("},\n");
        let _ = writeln!(out, "{ind}modules = {{");
        let base = name.replace(['-', '.'], "_");
        let modules = 1 + rng.below(4);
        for i in 0..modules {
            if i == 0 {
                let _ = write!(out, "{ind}   {base} = \"{base}.lua\"");
            } else {
                let sub = rng.pick(words).replace('-', "_");
                let _ = write!(out, ",\n{ind}   [\"{base}.{sub}\"] = \"{base}/{sub}.lua\"");
            }
        }
        let _ = write!(out, "\n{ind}}}");
    }

    pub(super) fn generate(packages: usize, seed: u64) -> String {
        let mut rng = Rng::new(seed);
        let names = names(&mut rng, packages);
        let mut out = String::with_capacity(packages * 1700);
        out.push_str("commands = {}\nmodules = {}\nrepository = {\n");
        for (p, name) in names.iter().enumerate() {
            out.push_str("   ");
            key(&mut out, name);
            out.push_str(" = {\n");
            let versions = versions(&mut rng);
            for (v, version) in versions.iter().enumerate() {
                let _ = writeln!(out, "      [\"{version}\"] = {{");
                let archs = archs(&mut rng, version);
                for (a, arch) in archs.iter().enumerate() {
                    let _ = write!(out, "         {{\n            arch = \"{arch}\"");
                    if *arch != "rockspec" && rng.chance(4) {
                        old_style_fields(&mut rng, &mut out, name, WORDS);
                    }
                    out.push_str("\n         }");
                    out.push_str(if a + 1 < archs.len() { ",\n" } else { "\n" });
                }
                out.push_str("      }");
                out.push_str(if v + 1 < versions.len() { ",\n" } else { "\n" });
            }
            out.push_str("   }");
            out.push_str(if p + 1 < names.len() { ",\n" } else { "\n" });
        }
        out.push_str("}\n");
        out
    }
}
