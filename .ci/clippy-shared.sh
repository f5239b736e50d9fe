#!/usr/bin/env bash
# Lints one more feature set after `cargo clippy --all-targets
# --all-features`, and fails when it had to check any crate but dualrun
# again: every feature set shares one build of DataFusion only while the
# features the optional crates turn on in shared crates are turned on in
# every build (the block "One DataFusion for every feature set" in
# Cargo.toml). A crate checked again names what to add there.
#   bash .ci/clippy-shared.sh --lib --bins
#   bash .ci/clippy-shared.sh --no-default-features --all-targets
set -euo pipefail
cd "$(dirname "$0")/.."
messages=$(mktemp "${TMPDIR:-/tmp}/dualrun-clippy-XXXXXX")
trap 'rm -f "$messages"' EXIT
status=0
cargo clippy "$@" --message-format=json -- -D warnings >"$messages" || status=$?
python3 - "$messages" "$*" <<'PY'
import json
import sys

path, feature_set = sys.argv[1], sys.argv[2]
checked_again = []
with open(path) as lines:
    for line in lines:
        message = json.loads(line)
        reason = message.get("reason")
        if reason == "compiler-message":
            print(message["message"]["rendered"], end="", file=sys.stderr)
        elif reason == "compiler-artifact" and not message["fresh"]:
            package = message["package_id"].split("#")[-1]
            if not message["package_id"].startswith("path+"):
                checked_again.append(f"{package} [{','.join(message['features'])}]")
if checked_again:
    print(
        f"clippy {feature_set}: {len(checked_again)} dependencies were checked again "
        f"instead of shared with the build of every feature: {'; '.join(checked_again[:8])}",
        file=sys.stderr,
    )
    print(
        "hint: they are listed in build order, so the first is the deepest: compare its "
        "features (and those of the crates it is built on) with the same crate's in "
        "`cargo clippy --all-targets --all-features --message-format=json` (`cargo tree` "
        "hides build scripts' own features) and turn the missing ones on in Cargo.toml's "
        'block "One DataFusion for every feature set"',
        file=sys.stderr,
    )
    sys.exit(1)
PY
exit "$status"
