//! What a project requires (its profile's packages and its own dependencies), whether its
//! lock still fits that, and resolving a new lock: versions, files, sha256 and git commits.

use super::*;
use crate::packages::names::PackageName;

/// Package name → constraint (`""` for any version).
pub(super) type Requirements = BTreeMap<String, String>;

/// The project's requirements: its profile's packages, overridden and extended by its own
/// dependencies; and its dev-dependencies.
pub(super) fn requirements(
    config: &Config,
    file: &ProjectFile,
) -> Result<(Requirements, Requirements), ProjectError> {
    let mut main = BTreeMap::new();
    if let Some(profile) = &file.project.profile {
        main.extend(profile_requirements(config, profile, file.project.lua)?);
    }
    main.extend(file.requirements(false));
    let dev = file
        .requirements(true)
        .into_iter()
        .filter(|(n, _)| !main.contains_key(n))
        .collect();
    Ok((main, dev))
}

/// Whether `lock` was made for what `file` asks now; if not, why.
pub(super) fn check_fresh(
    config: &Config,
    file: &ProjectFile,
    lock: &Lockfile,
) -> Result<(), String> {
    if lock.lua != file.project.lua {
        return Err(format!(
            "it is for Lua {}, the project asks for {}",
            lock.lua, file.project.lua
        ));
    }
    if lock.profile != file.project.profile {
        return Err(format!(
            "it is for profile {}, the project uses {}",
            lock.profile.as_deref().unwrap_or("(none)"),
            file.project.profile.as_deref().unwrap_or("(none)")
        ));
    }
    let (main, dev) = requirements(config, file).map_err(|e| e.to_string())?;
    for (kind, wanted, locked) in [
        ("", &main, &lock.requirements),
        ("dev-", &dev, &lock.dev_requirements),
    ] {
        if let Some((name, c)) = wanted.iter().find(|(n, c)| locked.get(*n) != Some(c)) {
            return Err(format!(
                "{kind}requirement {name} {} is not locked",
                if c.is_empty() { "(any)" } else { c }
            ));
        }
        if let Some(name) = locked.keys().find(|n| !wanted.contains_key(*n)) {
            return Err(format!("{name} is locked but no longer required"));
        }
    }
    Ok(())
}

pub(super) fn server_options(file: &ProjectFile, options: &EnvOptions) -> ServerOptions {
    let servers = if !file.project.servers.is_empty() {
        file.project.servers.clone()
    } else if !options.config.servers.is_empty() {
        options.config.servers.clone()
    } else {
        vec![DEFAULT_SERVER.to_string()]
    };
    ServerOptions {
        extra: Vec::new(),
        defaults: Vec::new(),
        only: servers,
        lua_version: file.project.lua.api().to_string(),
        cache_dir: options
            .cache_dir
            .clone()
            .or_else(|| options.config.cache_dir.clone()),
        offline: options.offline,
        unpack: options.config.unpack_bounds(),
        link_mode: options.config.link_mode.unwrap_or_default(),
    }
}

/// Resolves the project's requirements against its servers, keeping locked versions that
/// still fit (except the packages in `unlock`; all of them when it is empty), and records
/// each package's file and sha256.
pub(super) fn resolve_lock(
    file: &ProjectFile,
    old: Option<&Lockfile>,
    unlock: Option<&Vec<String>>,
    options: &EnvOptions,
) -> Result<Lockfile, ProjectError> {
    let (main, dev) = requirements(&options.config, file)?;
    let mut deps = Vec::new();
    for (name, constraint) in main.iter().chain(&dev) {
        let constraints = parse_constraint(constraint).map_err(ProjectError::Usage)?;
        deps.push(Dependency {
            name: PackageName::parse(name)
                .map_err(|e| ProjectError::Usage(format!("requirement: {e}")))?,
            constraints,
        });
    }
    let server_options = server_options(file, options);
    let index = server_options.index()?;
    if let Some(profile) = &file.project.profile {
        check_profile_available(&options.config, profile, file.project.lua, &index)?;
    }
    let mut resolve_options = ResolveOptions::for_lua(file.project.lua.api());
    if let Some(old) = old {
        for p in &old.packages {
            let free =
                unlock.is_some_and(|names| names.is_empty() || names.iter().any(|n| p.name == *n));
            if let (false, Ok(v)) = (free, Version::parse(&p.version)) {
                resolve_options.preferred.insert(p.name.to_string(), v);
            }
        }
    }
    let started = Instant::now();
    let resolution = resolve(&index, &deps, &resolve_options).map_err(QueryError::from)?;
    tracing::info!(
        packages = resolution.packages.len(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "resolved"
    );

    // The file each package comes from, and its sha256 (fetched through the cache, in parallel).
    let mut wanted = Vec::new();
    for (name, version) in &resolution.packages {
        let entry = index.entry(name, version).ok_or_else(|| {
            QueryError::Server(format!("{name} {version} is missing from the server index"))
        })?;
        let url = index.rock_url(entry);
        let server = index.servers()[entry.server].url().to_string();
        wanted.push((name.clone(), version.to_string(), server, url));
    }
    let fetcher = index.fetcher();
    // Git sources are pinned to the commit their tag or branch names now.
    let hashes = parallel_map(&wanted, options.jobs, |(name, version, _, url)| {
        let sha256 = fetcher
            .get(url)
            .map(|f| f.sha256)
            .map_err(|e| e.to_string())?;
        let version = Version::parse(version).map_err(|e| e.message)?;
        let spec = index
            .rockspec(name, &version)
            .map_err(|e| format!("{name} {version}: {e}"))?;
        let git = crate::packages::git::GitUrl::from_source_url(&spec.source.url)
            .map_err(|e| format!("{name} {version}: source.url: {e}"))?;
        let commit = match git {
            Some(git) => {
                let reference = spec.source.tag.as_ref().or(spec.source.branch.as_ref());
                Some(
                    crate::packages::git::remote_commit(&git, reference)
                        .map_err(|e| format!("{name} {version}: {e}"))?,
                )
            }
            None => None,
        };
        Ok::<_, String>((sha256, commit))
    });
    // Packages reachable from the main requirements are needed at run time; the rest only
    // by dev-dependencies.
    let mut runtime = std::collections::BTreeSet::new();
    let mut queue: Vec<String> = main.keys().cloned().collect();
    while let Some(name) = queue.pop() {
        if runtime.insert(name.clone()) {
            queue.extend(
                resolution
                    .dependencies
                    .get(&name)
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
    }
    let mut packages = Vec::new();
    for ((name, version, server, url), pinned) in wanted.into_iter().zip(hashes) {
        let (sha256, commit) = pinned.map_err(QueryError::Server)?;
        let file_name = url.rsplit('/').next().unwrap_or(&url).to_string();
        let locked_name = |n: &str| {
            PackageName::parse(n).map_err(|e| QueryError::Server(format!("resolution: {e}")))
        };
        packages.push(LockedPackage {
            dev: !runtime.contains(&name),
            dependencies: resolution
                .dependencies
                .get(&name)
                .into_iter()
                .flatten()
                .map(|d| locked_name(d))
                .collect::<Result<_, _>>()?,
            name: locked_name(&name)?,
            version,
            server,
            file: file_name,
            sha256,
            commit,
        });
    }
    Ok(Lockfile {
        version: LOCK_VERSION,
        lua: file.project.lua,
        profile: file.project.profile.clone(),
        requirements: main,
        dev_requirements: dev,
        packages,
    })
}

/// Runs `f` over `items` on up to `jobs` threads, keeping the order.
pub(super) fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let jobs = if jobs == 0 {
        install::default_jobs()
    } else {
        jobs
    }
    .clamp(1, 16);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<R>>> =
        std::sync::Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(items.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item is mapped"))
        .collect()
}

/// Fails, naming every missing package, when the servers lack some of a profile's packages:
/// clearer than the resolver's report of the first one it meets.
pub(super) fn check_profile_available(
    config: &Config,
    profile: &str,
    lua: LuaVersion,
    index: &crate::packages::index::ServerIndex,
) -> Result<(), ProjectError> {
    // A profile that cannot be expanded is reported where the requirements are read.
    let Ok(Ok(expansion)) = config.profiles().map(|p| p.expand(profile, lua.as_str())) else {
        return Ok(());
    };
    let missing: Vec<String> = crate::curator::availability(&expansion, index)
        .into_iter()
        .filter_map(|(name, why)| why.map(|w| format!("  {name}: {w}")))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ProjectError::NotFound(format!(
        "profile {profile} needs packages the servers do not offer:\n{}\n(`servers` in pylua.toml or in the configuration picks the servers)",
        missing.join("\n")
    ))
    .with_hint(crate::hint::Hint::ProfileShow {
        profile: profile.to_string(),
    }))
}

/// The requirements profile `name` adds for a project on `lua`, from the catalog and
/// profiles `config` knows.
pub fn profile_requirements(
    config: &Config,
    name: &str,
    lua: LuaVersion,
) -> Result<Requirements, ProjectError> {
    let profiles = config
        .profiles()
        .map_err(|e| ProjectError::Config(e.to_string()))?;
    let expansion = profiles.expand(name, lua.as_str()).map_err(|e| match e {
        ProfileError::Unknown { .. } => ProjectError::NotFound(e.to_string()),
        ProfileError::Invalid { .. } => ProjectError::Config(e.to_string()),
    })?;
    for (pkg, why) in &expansion.skipped {
        tracing::warn!("profile {name}: leaving out {pkg} for Lua {lua}: it {why}");
    }
    Ok(expansion
        .requirements
        .into_iter()
        .map(|r| (r.name, normalize_constraint(&r.constraint)))
        .collect())
}
