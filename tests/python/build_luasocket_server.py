"""Builds a rocks server for the networking tests: every rock of the realrocks mirror plus a
LuaSocket 3.1.0 .src.rock made from Debian's upstream tarball (`apt-get source lua-socket`,
which needs deb-src lines, as ../shared/realrocks/build-mirror.py sets up), with the
rockspec shipped in that tarball pointed at it. Needs luarocks and luarocks-admin.

usage: build_luasocket_server.py MIRROR OUT
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile


def main(mirror: str, out: str) -> None:
    work = out + ".work"
    os.makedirs(work, exist_ok=True)
    os.makedirs(out, exist_ok=True)
    if not glob.glob(f"{work}/luasocket_*.orig.tar.*"):
        # Only the upstream tarball is needed; Debian's own patch archive may be missing.
        subprocess.run(["apt-get", "source", "--download-only", "-qq", "lua-socket"], cwd=work,
                       capture_output=True)
    found = sorted(glob.glob(f"{work}/luasocket_*.orig.tar.*"))
    if not found:
        raise SystemExit("apt-get source lua-socket did not serve the upstream tarball")
    src = os.path.join(work, "src")
    shutil.rmtree(src, ignore_errors=True)
    with tarfile.open(found[-1]) as t:
        t.extractall(src)
    top = os.listdir(src)[0]
    specs = sorted(glob.glob(f"{src}/{top}/rockspecs/luasocket-3.*-1.rockspec"))
    if not specs:
        raise SystemExit("no luasocket rockspec in the tarball")
    spec_text = open(specs[-1]).read()
    version = re.search(r'version\s*=\s*"([^"]+)"', spec_text).group(1)
    archive = os.path.join(work, f"luasocket-{version}.tar.gz")
    with tarfile.open(archive, "w:gz") as t:
        t.add(os.path.join(src, top), arcname=top)
    spec_text = re.sub(r"source\s*=\s*\{[^}]*\}",
                       f'source = {{ url = "file://{archive}", dir = "{top}" }}',
                       spec_text, count=1)
    spec = os.path.join(work, f"luasocket-{version}.rockspec")
    open(spec, "w").write(spec_text)
    for rock in glob.glob(os.path.join(mirror, "*.rock")) + glob.glob(
            os.path.join(mirror, "*.rockspec")):
        shutil.copy(rock, out)
    subprocess.run(["luarocks", "pack", spec], cwd=out, check=True, capture_output=True)
    subprocess.run(["luarocks-admin", "make-manifest", out], check=True, capture_output=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
