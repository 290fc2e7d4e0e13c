# The flags bench/run.sh and bench/serve/run.sh share, parsed one way. Source it, then
#
#   bench_args "$@"
#
# sets $mode (quick, the default, or full) and $out (FILE made absolute, or empty for no --out).
# -h/--help prints the calling script's header comment and exits 0; anything else, or --out
# without a FILE, prints the usage line and exits 2.

bench_usage() {
  echo "usage: $0 [--quick|--full] [--out FILE]" >&2
  exit 2
}

bench_args() {
  mode=quick
  out=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --quick) mode=quick ;;
      --full) mode=full ;;
      --out)
        [ $# -ge 2 ] || bench_usage
        # Absolute: the scripts cd before they write it.
        case "$2" in /*) out="$2" ;; *) out="$PWD/$2" ;; esac
        shift
        ;;
      -h | --help)
        # The comment block after the shebang, without its `# `.
        awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
      *) bench_usage ;;
    esac
    shift
  done
}
