#!/usr/bin/env bash
# Runs clang-tidy (the checks in .clang-tidy, every warning an error) over the collector's product
# sources, collector/*/src/*.cpp, with the build's compile_commands.json, two files at a time.
#   clang_tidy.sh SOURCE_DIR BUILD_DIR CLANG_TIDY [JOBS]  -> exit 0 when clean
set -euo pipefail
root=${1:?usage: clang_tidy.sh SOURCE_DIR BUILD_DIR CLANG_TIDY [JOBS]}
build=${2:?usage: clang_tidy.sh SOURCE_DIR BUILD_DIR CLANG_TIDY [JOBS]}
tidy=${3:?usage: clang_tidy.sh SOURCE_DIR BUILD_DIR CLANG_TIDY [JOBS]}
jobs=${4:-2}
command -v "$tidy" >/dev/null || { echo "clang-tidy: $tidy not found (scripts/setup installs it)"; exit 1; }
[[ -f $build/compile_commands.json ]] || { echo "clang-tidy: no $build/compile_commands.json"; exit 1; }
cd "$root"

# Only sources this build compiles (a file another configuration adds has no flags here).
files=()
for path in collector/*/src/*.cpp; do
  grep -qF "\"$root/$path\"" "$build/compile_commands.json" && files+=("$path")
done
((${#files[@]} > 0)) || { echo "clang-tidy: no collector sources in $build/compile_commands.json"; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# -Wno-error: the build's -Werror is for GCC; clang's own warnings are not this check's business.
printf '%s\0' "${files[@]}" | xargs -0 -P"$jobs" -I{} sh -c '
  log="$1/$(printf %s "$4" | tr / _).log"
  "$2" -p "$3" --quiet --extra-arg=-Wno-error --extra-arg=-Wno-unknown-warning-option "$4" \
    >"$log" 2>&1 || echo "$4" >>"$1/failed"' _ "$out" "$tidy" "$build" {}
if [[ -s $out/failed ]]; then
  while read -r path; do
    echo "== $path"
    grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter|^[0-9]+ warnings? treated as errors?$' \
      "$out/$(printf %s "$path" | tr / _).log" || true
  done < <(sort "$out/failed")
  echo "clang-tidy: $(wc -l <"$out/failed") of ${#files[@]} files have findings"
  exit 1
fi
echo "clang-tidy: ${#files[@]} files clean"
