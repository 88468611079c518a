# Shared by every emulator tool. A tool sets `emu_home` (the tests/emulators directory) and
# `emu_dialect`, then sources this file. Fixtures are read from tests/data/probes: the tool
# prints exactly what the fixture recorded for the command line the probe scripts send, and
# fails loudly (exit 97) on a valid command line it has no recording for, so that a change of
# the probe scripts shows up as a failing emulator test instead of silently reusing old output.

emu_data=$emu_home/../data/probes
emu_probe=$emu_data/$emu_dialect/probe.txt
emu_fingerprint=$emu_data/fingerprint/$emu_dialect.txt
emu_tool=${0##*/}

# emu_section FILE NAME: what the tool printed inside section NAME of a framed fixture, without
# the marker lines and without the empty line `fp_e` adds. A section cut short runs to the end.
emu_section() {
  sed -n "/^@@FLEETPS [^ ]* BEGIN $2\$/,/^@@FLEETPS [^ ]* END $2 /{
/^@@FLEETPS /d
p
}" "$1" | sed '${/^$/d;}'
}

# emu_rc FILE NAME: the exit status recorded for section NAME (0 when none was recorded).
emu_rc() {
  sed -n "s/^@@FLEETPS [^ ]* END $2 rc=\([0-9]*\).*/\1/p" "$1" | sed -n 1p | sed 's/^$/0/'
}

# The fixture's probe shell ($$ of `sh -s`) is replaced by the real one, which is the parent of
# every tool the probe runs, so that the probe's self-exclusion sees its own shell and children.
emu_fixture_self=`emu_section "$emu_probe" self`

emu_rewrite_self() {
  if [ "$PPID" != "$emu_fixture_self" ] &&
    emu_section "$emu_probe" ps | grep -q "^ *$PPID "; then
    echo "$emu_tool emulator ($emu_dialect): the probe shell's pid $PPID is also a fixture pid" >&2
    exit 98
  fi
  sed -e "s/\([^0-9]\)$emu_fixture_self\([^0-9]\)/\1$PPID\2/g" \
      -e "s/^$emu_fixture_self\([^0-9]\)/$PPID\1/" \
      -e "s/\([^0-9]\)$emu_fixture_self\$/\1$PPID/" \
      -e "s/^$emu_fixture_self\$/$PPID/"
}

# emu_print SECTION: a probe fixture section, self pid rewritten.
emu_print() {
  emu_section "$emu_probe" "$1" | emu_rewrite_self
}

# emu_unrecorded ARGS...: a command line the real tool accepts but no fixture recorded.
emu_unrecorded() {
  echo "$emu_tool emulator ($emu_dialect): no recorded output for: $emu_tool $*" >&2
  exit 97
}

# emu_fp SECTION: a value from the fingerprint fixture (uname, getconf, id, zonename).
emu_fp() {
  emu_section "$emu_fingerprint" "$1"
}

# emu_clock: the remote clock of the probe fixture, so that etime-derived start times are the
# ones the fixture implies.
emu_clock() {
  emu_section "$emu_probe" clock
}

# emu_uname LETTERS ARGS...: uname with the option letters LETTERS (printed in s n r v m order).
emu_uname() {
  emu_letters=$1
  shift
  emu_want=
  [ $# -eq 0 ] && emu_want=s
  for emu_arg in "$@"; do
    case $emu_arg in
      -*) emu_want="$emu_want${emu_arg#-}" ;;
      *) echo "usage: uname [-$emu_letters]" >&2; exit 1 ;;
    esac
  done
  emu_out=
  emu_rest=$emu_want
  while [ -n "$emu_rest" ]; do
    emu_c=`echo "$emu_rest" | cut -c1`
    emu_rest=`echo "$emu_rest" | cut -c2-`
    case $emu_letters in
      *"$emu_c"*) ;;
      *) echo "uname: illegal option -- $emu_c" >&2; echo "usage: uname [-$emu_letters]" >&2; exit 1 ;;
    esac
  done
  for emu_c in s n r v m p; do
    case $emu_want in
      *a*|*"$emu_c"*) ;;
      *) continue ;;
    esac
    case $emu_c in
      s) emu_v=`emu_fp uname-s` ;;
      n) emu_v=fixture-host ;;
      r) emu_v=`emu_fp uname-r` ;;
      v) emu_v=`emu_fp uname-v`; [ -n "$emu_v" ] || emu_v=1 ;;
      p) emu_v=`emu_fp uname-p` ;;
      m) emu_v=`emu_fp uname-m` ;;
    esac
    emu_out="${emu_out:+$emu_out }$emu_v"
  done
  echo "$emu_out"
}

# emu_getconf NAME: CLK_TCK and PAGESIZE/PAGE_SIZE from the fingerprint fixture.
emu_getconf() {
  case $* in
    CLK_TCK) emu_section "$emu_fingerprint" clk-tck; exit `emu_rc "$emu_fingerprint" clk-tck` ;;
    PAGESIZE|PAGE_SIZE) emu_section "$emu_fingerprint" page-size
      exit `emu_rc "$emu_fingerprint" page-size` ;;
    *) echo "getconf: Invalid argument ($*)" >&2; exit 1 ;;
  esac
}

# emu_date ARGS...: `date +%s` prints the fixture's clock; plain `date` the same instant in UTC.
emu_date() {
  case $* in
    +%s) emu_clock ;;
    '') /usr/bin/date -u -d "@`emu_clock`" ;;
    *) emu_unrecorded "$@" ;;
  esac
}

# emu_id ARGS...: `id -u` (POSIX), `id` (uid=N(name) ...).
emu_id() {
  case $* in
    -u) emu_fp uid ;;
    '') echo "uid=`emu_fp uid`(monitor) gid=1(staff)" ;;
    *) emu_unrecorded "$@" ;;
  esac
}

# emu_getopts OPTSTRING BADOPT USAGE ARGS...: parses a SysV/BSD ps command line with getopts.
# Sets emu_flags (option letters without argument, in order), emu_o (the -o arguments, joined
# by spaces), emu_p (-p), emu_z (-z). A letter outside OPTSTRING prints BADOPT (with %s the
# letter) and USAGE on stderr and exits 1, like the real tools' getopt error path.
emu_getopts() {
  emu_optstring=$1 emu_badopt=$2 emu_usage=$3
  shift 3
  emu_flags= emu_o= emu_p= emu_z=
  OPTIND=1
  while getopts ":$emu_optstring" emu_opt "$@"; do
    case $emu_opt in
      o) emu_o="${emu_o:+$emu_o }$OPTARG" ;;
      p) emu_p=$OPTARG ;;
      z) emu_z=$OPTARG ;;
      \?|:) printf "$emu_badopt\n" "$OPTARG" >&2; echo "$emu_usage" >&2; exit 1 ;;
      *) emu_flags="$emu_flags$emu_opt" ;;
    esac
  done
  shift $((OPTIND - 1))
  emu_operands="$*"
}

# emu_has_flag LETTER: the letter was given.
emu_has_flag() {
  case $emu_flags in *"$1"*) return 0 ;; esac
  return 1
}
