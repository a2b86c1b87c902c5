#!/usr/bin/env bash
# Make the real dxchange (Debian's pure-Python package python3-dxchange) importable from the
# Python that runs the tests, without touching PyPI's unrelated "dxchange" placeholder.
#
# What it does (idempotent: a second run returns at once):
#   1. if `python -c "import dxchange"` already works, stop;
#   2. apt-get download python3-dxchange (apt-get update first when the package is unknown),
#      dpkg -x it into $DXCHANGE_DIR (default: ~/.cache/tomopy-dip/dxchange-deb);
#   3. pip-install its pure-Python dependencies that are missing (six, pandas);
#   4. write dxchange-debian.pth into the interpreter's site-packages, pointing at the
#      extracted dist-packages directory.
#
# Usage: bash .ci/install-dxchange.sh [PYTHON]      (default: python)
# Exit code 0 when dxchange imports afterwards, 1 otherwise (the dxchange tests then skip).
set -euo pipefail

PY="${1:-${PYTHON:-python}}"
DEST="${DXCHANGE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tomopy-dip/dxchange-deb}"

have_dxchange() {
    "$PY" - <<'EOF' >/dev/null 2>&1
import dxchange
assert hasattr(dxchange, "read_aps_32id")
EOF
}

if have_dxchange; then
    echo "install-dxchange: dxchange already importable by $PY"
    exit 0
fi

# Dependencies first: dxchange.reader imports six and pandas at import time.
for mod in six pandas; do
    if ! "$PY" -c "import $mod" >/dev/null 2>&1; then
        "$PY" -m pip install --quiet "$mod" || echo "install-dxchange: could not pip-install $mod" >&2
    fi
done

SITE_PKGS="$DEST/usr/lib/python3/dist-packages"
if [ ! -f "$SITE_PKGS/dxchange/__init__.py" ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install-dxchange: apt-get not available; cannot install python3-dxchange" >&2
        exit 1
    fi
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"' EXIT
    (
        cd "$WORK"
        # apt-get download runs unsandboxed as root; silence its harmless warning.
        if ! apt-get download python3-dxchange >/dev/null 2>&1; then
            apt-get update -qq >/dev/null 2>&1 || true
            apt-get download python3-dxchange >/dev/null 2>&1
        fi
    ) || { echo "install-dxchange: apt-get download python3-dxchange failed" >&2; exit 1; }
    mkdir -p "$DEST"
    dpkg -x "$WORK"/python3-dxchange_*.deb "$DEST"
fi

# Point the interpreter at the extracted package. Only dxchange goes on the path: the
# extracted tree holds nothing else, so Debian's other packages cannot shadow pip's.
PURELIB="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$SITE_PKGS" > "$PURELIB/dxchange-debian.pth"

if have_dxchange; then
    echo "install-dxchange: dxchange $("$PY" -c 'import dxchange, os; print(os.path.dirname(dxchange.__file__))') is importable"
    exit 0
fi
echo "install-dxchange: dxchange still does not import:" >&2
"$PY" -c "import dxchange" >&2 || true
exit 1
