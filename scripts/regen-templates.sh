#!/usr/bin/env bash
# Regenerates the template matcher modules the dfabake binary embeds
# (builder/templates/), from matcher-wasm/, byte for byte reproducibly.
#
#   scripts/regen-templates.sh          rebuild, write builder/templates/ (commit the result)
#   scripts/regen-templates.sh --check  rebuild into a temporary directory and fail if the
#                                       committed files differ (CI: tests/run-all.sh)
#
# Needs the pinned toolchain with the wasm target and the wasm-bindgen CLI of the
# version matcher-wasm pins (bash .ci/setup installs both):
#   rustup toolchain install 1.95.0 --profile minimal --target wasm32-unknown-unknown
#   cargo install wasm-bindgen-cli --version 0.2.130
#
# Same bytes whatever the checkout path, $CARGO_HOME or target directory: those
# paths are remapped out of the modules (--remap-path-prefix); the `template`
# profile (workspace Cargo.toml) builds with codegen-units = 1, lto, no debug
# info and stripped symbols.
#
# Environment: WASM_BINDGEN=/path/to/wasm-bindgen (default: on PATH);
# DFABAKE_TEMPLATE_TARGET_DIR (default: target/template-build).
set -euo pipefail
# A failed build inside $(...) must stop the script, not leave the last
# module built at that path to be copied.
shopt -s inherit_errexit
root=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$root"

# The compiler the committed bytes come from: another rustc emits other bytes.
toolchain=1.95.0
dest=builder/templates
check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

fail() { echo "regen-templates: $*" >&2; exit 1; }

bindgen_version=$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p' matcher-wasm/Cargo.toml)
[ -n "$bindgen_version" ] || fail "cannot read the pinned wasm-bindgen version from matcher-wasm/Cargo.toml"
wasm_bindgen=${WASM_BINDGEN:-wasm-bindgen}
have=$("$wasm_bindgen" --version 2>/dev/null || true)
[ "$have" = "wasm-bindgen $bindgen_version" ] || fail "need the wasm-bindgen CLI $bindgen_version \
(found: ${have:-none}); install it with: cargo install wasm-bindgen-cli --version $bindgen_version"

# rustup's `+toolchain` when rustup manages cargo; otherwise the cargo on PATH must be that version.
cargo=(cargo)
if command -v rustup >/dev/null; then
  rustup run "$toolchain" rustc -V >/dev/null 2>&1 || fail "toolchain $toolchain is not installed; \
install it with: rustup toolchain install $toolchain --profile minimal --target wasm32-unknown-unknown"
  cargo=(rustup run "$toolchain" cargo)
fi
rustc_version=$(rustup run "$toolchain" rustc -V 2>/dev/null || rustc -V)
case "$rustc_version" in
  "rustc $toolchain "*) ;;
  *) fail "the templates are built with rustc $toolchain, found: $rustc_version" ;;
esac

target_dir=${DFABAKE_TEMPLATE_TARGET_DIR:-$root/target/template-build}
mkdir -p "$target_dir"
target_dir=$(cd "$target_dir" && pwd -P)
cargo_home=${CARGO_HOME:-$HOME/.cargo}
[ -d "$cargo_home" ] && cargo_home=$(cd "$cargo_home" && pwd -P)

# The outer environment's build settings are not the template's.
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS \
      RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER CARGO_BUILD_TARGET CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR
# rustc applies the last matching remapping: the target directory may lie inside the workspace.
flags=(
  "--remap-path-prefix=$cargo_home=/cargo"
  "--remap-path-prefix=$root=/dfabake"
  "--remap-path-prefix=$target_dir=/target"
  "-Cdebuginfo=0"
)
CARGO_ENCODED_RUSTFLAGS=$(IFS=$'\x1f'; echo "${flags[*]}")
export CARGO_ENCODED_RUSTFLAGS

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

build() { # features -> path of the built module
  "${cargo[@]}" build --quiet --locked --package dfabake-matcher --lib \
    --target wasm32-unknown-unknown --profile template --features "$1" \
    --target-dir "$target_dir" >&2
  echo "$target_dir/wasm32-unknown-unknown/template/dfabake_matcher.wasm"
}

echo "regen-templates: building the plain-ABI module (features abi)" >&2
module=$(build abi)
cp "$module" "$out/template.wasm"
echo "regen-templates: building the wasm-bindgen module (features bindgen) and its glue" >&2
module=$(build bindgen)
cp "$module" "$out/bindgen-raw.wasm"
"$wasm_bindgen" "$out/bindgen-raw.wasm" --target web --no-typescript \
  --out-name dfabake_matcher --out-dir "$out/npm"
rm "$out/bindgen-raw.wasm"
# Plain files in git, whatever modes the tools gave them.
chmod 644 "$out/template.wasm" "$out"/npm/*

artifacts=(template.wasm npm/dfabake_matcher_bg.wasm npm/dfabake_matcher.js)

if $check; then
  stale=()
  for f in "${artifacts[@]}"; do
    cmp -s "$out/$f" "$dest/$f" || stale+=("$dest/$f")
  done
  if [ ${#stale[@]} -gt 0 ]; then
    fail "the committed templates are stale: ${stale[*]} differ from a rebuild of matcher-wasm/.
Run scripts/regen-templates.sh and commit builder/templates/."
  fi
  echo "regen-templates: the committed templates match a rebuild of matcher-wasm/" >&2
  exit 0
fi

mkdir -p "$dest/npm"
for f in "${artifacts[@]}"; do
  cp "$out/$f" "$dest/$f.tmp" && mv "$dest/$f.tmp" "$dest/$f"
done

sums=$(cd "$dest" && sha256sum "${artifacts[@]}")
tmp=$dest/GENERATED.md.tmp
cat > "$tmp" <<MD
# Generated files: do not edit

The files in this directory are build artifacts, committed so that building the
\`dfabake\` binary (\`cargo install --path builder\`) needs neither the
\`wasm32-unknown-unknown\` target nor the \`wasm-bindgen\` CLI; \`builder/build.rs\`
embeds them.

Generated by \`scripts/regen-templates.sh\` from \`matcher-wasm/\` (the crate
\`dfabake-matcher\`, profile \`template\` of the workspace \`Cargo.toml\`):

| file | built as |
|---|---|
| \`template.wasm\` | \`cargo build -p dfabake-matcher --lib --target wasm32-unknown-unknown --profile template --features abi\` |
| \`npm/dfabake_matcher_bg.wasm\`, \`npm/dfabake_matcher.js\` | the same with \`--features bindgen\`, then \`wasm-bindgen --target web --no-typescript --out-name dfabake_matcher\` |

- compiler: \`$rustc_version\`
- wasm-bindgen CLI: \`$bindgen_version\`
- rustc flags: \`--remap-path-prefix\` of the workspace, \`\$CARGO_HOME\` and target
  directory, \`-Cdebuginfo=0\` (the same bytes from any checkout)

\`SOURCES.sha256\` lists the sources these were built from (the files of
\`matcher-wasm/\`, the workspace \`Cargo.toml\`'s profiles and dependencies the
crate uses, and the \`Cargo.lock\` entries it can reach). The test
\`builder/tests/template_sources.rs\` fails when they change without a
regeneration; \`scripts/regen-templates.sh --check\` (run by \`tests/run-all.sh\`)
fails when a rebuild gives other bytes. Either way: run
\`scripts/regen-templates.sh\` and commit \`builder/templates/\`.

SHA-256 of the files:

\`\`\`
$sums
\`\`\`
MD
mv "$tmp" "$dest/GENERATED.md"

echo "regen-templates: recording the sources (builder/tests/template_sources.rs)" >&2
unset CARGO_ENCODED_RUSTFLAGS
DFABAKE_WRITE_TEMPLATE_SOURCES=1 cargo test --quiet --release --locked -p dfabake --test template_sources >&2
echo "regen-templates: wrote $dest/; commit it" >&2
