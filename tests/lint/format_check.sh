#!/usr/bin/env bash
# Checks that every C++ source follows .clang-format (clang-format --dry-run --Werror).
#   format_check.sh SOURCE_DIR CLANG_FORMAT  -> exit 0 when clean, 1 naming each file
set -euo pipefail
root=${1:?usage: format_check.sh SOURCE_DIR CLANG_FORMAT}
clang_format=${2:?usage: format_check.sh SOURCE_DIR CLANG_FORMAT}
command -v "$clang_format" >/dev/null ||
  { echo "format: $clang_format not found (scripts/setup installs it)"; exit 1; }
cd "$root"

status=0
checked=0
while IFS= read -r -d '' path; do
  path=${path#./}
  checked=$((checked + 1))
  if ! "$clang_format" --dry-run --Werror "$path" >/dev/null 2>&1; then
    echo "format: $path differs from .clang-format (run: clang-format -i $path)"
    status=1
  fi
done < <(find agent collector config registry tests -path tests/data -prune -o \
           \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' \) -type f -print0 | sort -z)
echo "format: $checked files checked"
exit $status
