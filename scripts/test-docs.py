#!/usr/bin/env python3
"""Run the examples of the documentation (README.md and docs/) so they cannot rot.

Marking (the fence's info string; a forge highlights by its first word and ignores the rest):

    ```sh test                a shell block that runs (bash, `set -euo pipefail`)
    ```sh test exit=13        ... and must end with exit status 13
    ```python test            a Python block, run by the virtualenv's python with pylua_vm
    ```text output            what the tested block before it prints (stdout and stderr
                              together, as in a terminal). A line `...` stands for any lines,
                              `...` inside a line for any text; trailing spaces are ignored.
    ```lua file=main.lua      a file the reader is asked to create: written into the current
                              directory before the blocks after it run (any language)
    ```sh test timeout=300    a longer time limit for one block (default 120 s)

Each document runs as one session, top to bottom, in a fresh temporary directory: a `cd` in
one block carries over to the next. Nothing touches the user's files: HOME and PYLUA_HOME are
temporary, and pylua's configuration names a LOCAL rocks server, the realrocks mirror
(`PYLUA_REALROCKS`), as its only server, so `pylua install lua-cjson` works offline exactly as
written. A document can ask for more with an HTML comment on a line of its own:

    <!-- docs-test: no-lua -->   PATH without any lua, luajit or luarocks command (checks
                                 that the page works on a machine with no Lua)
    <!-- docs-test: requires=luarocks,lua5.4 -->
                                 commands the page needs besides pylua: missing, the page is
                                 skipped (a failure under CI=true)

Usage: scripts/test-docs.py [FILE.md ...] [--list] [--keep] [-k TEXT]

Prerequisites: the pylua binary (`PYLUA_BIN`, else the newer of target/debug/pylua and
target/release/pylua under CARGO_TARGET_DIR or ./target), the mirror (`PYLUA_REALROCKS`) and a
virtualenv with pylua_vm installed (`PYLUA_TEST_VENV`, default target/py-venv; made by
scripts/test-all.sh). Under CI=true a missing prerequisite is a failure; elsewhere what needs
it is skipped and said so. Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TIMEOUT = 120
SHELLS = {"sh", "bash", "shell", "console"}
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
DIRECTIVE = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<words>[^>]*?)\s*-->\s*$")
HIDE_FROM_NO_LUA = re.compile(r"^(lua|luajit|luarocks)")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    words: List[str]
    options: Dict[str, str]
    code: str
    expected: Optional[str] = None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path}:{self.line}"

    @property
    def tested(self) -> bool:
        return "test" in self.words

    @property
    def file(self) -> Optional[str]:
        return self.options.get("file")


@dataclass
class Document:
    path: Path
    blocks: List[Block] = field(default_factory=list)
    directives: List[str] = field(default_factory=list)

    @property
    def runnable(self) -> List[Block]:
        return [b for b in self.blocks if b.tested or b.file]


def parse(path: Path, text: Optional[str] = None) -> Document:
    """The fenced blocks of a Markdown file, with each output block attached to the tested
    block before it."""
    text = path.read_text(encoding="utf-8") if text is None else text
    doc = Document(path)
    lines = text.split("\n")
    i = 0
    last_tested: Optional[Block] = None
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            directive = DIRECTIVE.match(lines[i])
            if directive:
                doc.directives += directive.group("words").split()
            i += 1
            continue
        fence, indent = m.group("fence"), len(m.group("indent"))
        info = m.group("info").strip()
        start = i
        body: List[str] = []
        i += 1
        while i < len(lines):
            close = lines[i].strip()
            if close.startswith(fence[0] * len(fence)) and set(close) <= {fence[0]}:
                break
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        if i >= len(lines):
            raise SystemExit(f"{path}:{start + 1}: unclosed code fence")
        i += 1
        words = info.split()
        lang = words[0].lower() if words else ""
        options = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        flags = [w for w in words[1:] if "=" not in w]
        code = "\n".join(body) + ("\n" if body else "")
        if "output" in flags:
            if last_tested is None:
                raise SystemExit(f"{path}:{start + 1}: an output block must follow a tested block")
            if last_tested.expected is not None:
                raise SystemExit(f"{path}:{start + 1}: a second output block for "
                                 f"the block at line {last_tested.line}")
            last_tested.expected = code
            continue
        block = Block(path, start + 1, lang, flags, options, code)
        if block.tested:
            if lang not in SHELLS and lang != "python":
                raise SystemExit(f"{path}:{start + 1}: only sh and python blocks can be tested, "
                                 f"not {lang!r}")
            for key in options:
                if key not in ("exit", "timeout"):
                    raise SystemExit(f"{path}:{start + 1}: unknown option {key}=")
            last_tested = block
        doc.blocks.append(block)
    return doc


def output_matches(expected: str, actual: str) -> bool:
    """`expected` against `actual`, with `...` lines and `...` inside lines as wildcards."""
    def norm(s: str) -> List[str]:
        lines = [line.rstrip() for line in s.replace("\r\n", "\n").split("\n")]
        while lines and not lines[-1]:
            lines.pop()
        while lines and not lines[0]:
            lines.pop(0)
        return lines

    pattern = []
    for line in norm(expected):
        if line.strip() == "...":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            pattern.append(".*?".join(re.escape(p) for p in line.split("...")) + r"\n")
    return re.fullmatch("".join(pattern), "".join(l + "\n" for l in norm(actual))) is not None


class Failure(Exception):
    pass


class Session:
    """One document's run: its temporary directories and environment."""

    def __init__(self, doc: Document, env: Dict[str, str], tmp: Path, keep: bool) -> None:
        self.doc = doc
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix=f"doc-{doc.path.stem}-", dir=tmp))
        self.work = self.root / "work"
        self.state = self.root / "state"
        for d in (self.work, self.state, self.root / "home"):
            d.mkdir()
        (self.state / "cwd").write_text(str(self.work))
        self.env = dict(env)
        self.env["HOME"] = str(self.root / "home")
        self.env["PYLUA_HOME"] = str(self.root / "pylua-home")
        self.env["TMPDIR"] = str(self.root)

    def cwd(self) -> Path:
        return Path((self.state / "cwd").read_text().strip())

    def run(self, block: Block, venv_python: Optional[Path]) -> str:
        if block.file:
            target = self.cwd() / block.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code, encoding="utf-8")
            return ""
        n = block.line
        if block.lang == "python":
            if venv_python is None:
                raise AssertionError("no venv")
            script = self.state / f"block-{n}.py"
            script.write_text(block.code, encoding="utf-8")
            argv = [str(venv_python), str(script)]
        else:
            script = self.state / f"block-{n}.sh"
            state = str(self.state / "cwd")
            script.write_text(
                f'cd "$(cat {sh_quote(state)})"\n'
                f"trap 'pwd > {sh_quote(state)}' EXIT\n"
                "set -euo pipefail\n" + block.code,
                encoding="utf-8",
            )
            argv = ["bash", str(script)]
        timeout = int(block.options.get("timeout", DEFAULT_TIMEOUT))
        # A process group of its own, ended with the block: a server a block starts in the
        # background does not outlive it, even when the block fails before stopping it.
        proc = subprocess.Popen(argv, cwd=self.cwd(), env=self.env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        chunks: List[bytes] = []
        reader = threading.Thread(target=lambda: chunks.extend(iter(
            lambda: proc.stdout.read1(65536), b"")), daemon=True)  # type: ignore[union-attr]
        reader.start()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            proc.wait()
            reader.join(5)
            out = b"".join(chunks).decode("utf-8", "replace")
            raise Failure(f"timed out after {timeout} s\n{tail(out)}")
        finally:
            kill_group(proc.pid)
        reader.join(5)
        raw = b"".join(chunks)
        out = raw.decode("utf-8", "replace")
        want = int(block.options.get("exit", "0"))
        if proc.returncode != want:
            raise Failure(f"exit status {proc.returncode}, expected {want}\n{tail(out)}")
        if block.expected is not None and not output_matches(block.expected, out):
            raise Failure("output differs\n--- expected\n" + block.expected.rstrip()
                          + "\n--- actual\n" + out.rstrip())
        return out

    def close(self) -> None:
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def sh_quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def tail(text: str, n: int = 40) -> str:
    lines = text.rstrip().split("\n")
    cut = lines[-n:]
    return ("  ...\n" if len(lines) > n else "") + "\n".join("  " + l for l in cut)


def find_binary() -> Optional[Path]:
    if os.environ.get("PYLUA_BIN"):
        return Path(os.environ["PYLUA_BIN"]).resolve()
    targets = [Path(os.environ["CARGO_TARGET_DIR"])] if os.environ.get("CARGO_TARGET_DIR") else []
    targets.append(ROOT / "target")
    found = [t / p / "pylua" for t in targets for p in ("debug", "release")]
    found = [p for p in found if p.is_file() and os.access(p, os.X_OK)]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def find_venv_python() -> Optional[Path]:
    venv = Path(os.environ.get("PYLUA_TEST_VENV", ROOT / "target" / "py-venv"))
    if not venv.is_absolute():
        venv = ROOT / venv
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    ok = subprocess.run([str(python), "-c", "import pylua_vm"], capture_output=True, cwd="/")
    return python if ok.returncode == 0 else None


def path_without_lua(tmp: Path, path: str) -> str:
    """A directory of links to every command on `path` except Lua interpreters and LuaRocks."""
    shim = tmp / "no-lua-bin"
    if not shim.exists():
        shim.mkdir()
        for d in path.split(os.pathsep):
            if not os.path.isdir(d):
                continue
            for name in os.listdir(d):
                target = os.path.join(d, name)
                link = shim / name
                if HIDE_FROM_NO_LUA.match(name) or link.exists() or link.is_symlink():
                    continue
                if os.access(target, os.X_OK) and not os.path.isdir(target):
                    link.symlink_to(target)
    return str(shim)


def self_check() -> None:
    """The harness must notice a failing command and a wrong output, or it proves nothing."""
    doc = parse(Path("self-check.md"), "```sh test\necho one\nfalse\necho never\n```\n\n"
                "```sh test\necho hello\n```\n```text output\nbye\n```\n\n"
                "```sh test exit=3\nexit 3\n```\n\n"
                "```sh test\nprintf 'a\\nb\\nc: 42 ms\\n'\n```\n```text output\n...\nc: ... ms\n```\n")
    with tempfile.TemporaryDirectory() as tmp:
        session = Session(doc, dict(os.environ), Path(tmp), keep=False)
        outcomes = []
        for block in doc.runnable:
            try:
                session.run(block, None)
                outcomes.append("ok")
            except Failure:
                outcomes.append("fail")
    if outcomes != ["fail", "fail", "ok", "ok"]:
        raise SystemExit(f"test-docs.py self-check: the harness is broken ({outcomes})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--list", action="store_true", help="list the marked blocks, run nothing")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directories")
    ap.add_argument("-k", dest="only", help="only documents whose path contains this")
    args = ap.parse_args()
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")

    files = [f.resolve() for f in args.files] or [ROOT / "README.md"] + sorted(
        (ROOT / "docs").rglob("*.md"))
    if args.only:
        files = [f for f in files if args.only in str(f)]
    docs = [parse(f) for f in files]
    if args.list:
        for doc in docs:
            for b in doc.runnable:
                kind = f"file {b.file}" if b.file else b.lang + (" +output" if b.expected else "")
                print(f"{b.where}: {kind}")
        return 0

    self_check()
    problems = []
    binary = find_binary()
    if binary is None:
        problems.append("no pylua binary: build it (cargo build -p pylua-cli) or set PYLUA_BIN")
    mirror = os.environ.get("PYLUA_REALROCKS")
    if not mirror or not (Path(mirror) / "manifest").is_file():
        problems.append("no rocks mirror: set PYLUA_REALROCKS to the realrocks mirror "
                        "(built by ../shared/realrocks/build-mirror.py)")
    venv_python = find_venv_python()
    if venv_python is None:
        problems.append("no virtualenv with pylua_vm (scripts/test-all.sh makes target/py-venv; "
                        "or set PYLUA_TEST_VENV)")
    if problems and ci:
        for p in problems:
            print(f"test-docs: error: {p}", file=sys.stderr)
        return 1
    if binary is None or mirror is None or not (Path(mirror) / "manifest").is_file():
        for p in problems:
            print(f"test-docs: skipped: {p}", file=sys.stderr)
        return 0
    for p in problems:
        print(f"test-docs: {p}: Python blocks are skipped", file=sys.stderr)

    tmp = Path(tempfile.mkdtemp(prefix="pylua-docs-"))
    cache = tmp / "cache"
    base_path = os.environ.get("PATH", "/usr/bin:/bin")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LUA_", "PYLUA", "XDG_", "VIRTUAL_ENV"))}
    env.update(NO_COLOR="1", TERM="dumb", PYTHONDONTWRITEBYTECODE="1")
    bin_dirs = [str(binary.parent)] + ([str(venv_python.parent)] if venv_python else [])
    mirror_url = "file://" + str(Path(mirror).resolve())

    failures, ran, skipped = [], 0, 0
    start = time.monotonic()
    for doc in docs:
        if not doc.runnable:
            continue
        needs = [c for d in doc.directives if d.startswith("requires=")
                 for c in d[len("requires="):].split(",") if c]
        lacking = [c for c in needs if shutil.which(c) is None]
        if lacking:
            message = f"{doc.path.name} needs {', '.join(lacking)}, not on PATH"
            if ci:
                failures.append(message)
                print(f"FAIL {message}", flush=True)
            else:
                print(f"test-docs: skipped: {message}", file=sys.stderr)
                skipped += len(doc.runnable)
            continue
        denv = dict(env)
        path = base_path
        if "no-lua" in doc.directives:
            path = path_without_lua(tmp, base_path)
        denv["PATH"] = os.pathsep.join(bin_dirs + [path])
        session = Session(doc, denv, tmp, args.keep)
        config = session.root / "pylua-home" / "config" / "config.toml"
        config.parent.mkdir(parents=True)
        config.write_text(f'servers = ["{mirror_url}"]\ncache-dir = "{cache}"\n')
        doc_start = time.monotonic()
        for block in doc.runnable:
            if block.lang == "python" and venv_python is None:
                skipped += 1
                continue
            try:
                session.run(block, venv_python)
                ran += 1
            except Failure as e:
                failures.append(f"{block.where}: {e}\n" + indent_code(block.code))
                print(f"FAIL {block.where}", flush=True)
                break  # later blocks of a session build on this one
        print(f"{doc.path.relative_to(ROOT) if doc.path.is_relative_to(ROOT) else doc.path}: "
              f"{len(doc.runnable)} blocks, {time.monotonic() - doc_start:.1f} s", flush=True)
        session.close()
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}")
    for f in failures:
        print("\n" + f, file=sys.stderr)
    print(f"test-docs: {ran} blocks ran, {len(failures)} failed, {skipped} skipped, "
          f"{time.monotonic() - start:.0f} s")
    if ran == 0 and not failures:
        print("test-docs: error: no marked blocks ran", file=sys.stderr)
        return 1
    return 1 if failures else 0


def indent_code(code: str) -> str:
    return "  the block:\n" + "\n".join("    | " + l for l in code.rstrip().split("\n"))


if __name__ == "__main__":
    sys.exit(main())
