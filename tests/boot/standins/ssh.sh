#!/bin/bash
# KGEN TEST STAND-IN — not the real ssh
# A stand-in for `ssh` for kgen's upgrade driver: it runs the remote command in the node's sandbox
# (tests/sandbox.py) instead of on a remote machine, with this process's stdin, stdout and stderr.
# Bash, not Python: the driver calls ssh about fifty times a run, and bash starts in a millisecond.
#
# Strict about what the driver relies on (ssh(1), OpenSSH ssh.c's getopt loop): `-o Key=Value` for
# BatchMode (must be yes: the driver never prompts) and ConnectTimeout (a number), `--` to end the
# options, then `user@host` and the command words, which ssh joins with spaces into one command line for
# the remote shell. Any other option fails with exit code 255, like ssh's own errors. The host must be one
# the map names ("Could not resolve hostname" otherwise) and the user the node's admin user ("Permission
# denied (publickey)" otherwise).
#
# The map is a folder named by KGEN_SSH_STANDIN_MAP, one folder per host: <host>/user holds the admin
# user; <host>/argv the host command that enters the node's sandbox (tests/sandbox.py Sandbox.command),
# each word NUL-terminated, with the word __KGEN_SSH_COMMAND__ where the remote command line goes. Each
# call is appended to KGEN_SSH_STANDIN_LOG when set, as NUL-terminated fields: host, user, command line,
# the number of option words, then the option words (up to and including `--`).
set -uo pipefail
shopt -u patsub_replacement 2>/dev/null || true # `&` in a command line is not the matched pattern

readonly PLACEHOLDER=__KGEN_SSH_COMMAND__
readonly USAGE="usage: ssh [-o option] destination [command]"

refuse() {
  printf '%s\n' "$1" >&2
  exit 255
}

args=("$@")
count=${#args[@]}
i=0
while ((i < count)) && [[ "${args[i]}" == -* ]]; do
  if [[ "${args[i]}" == -- ]]; then
    i=$((i + 1))
    break
  fi
  if [[ "${args[i]}" != -o ]] || ((i + 1 >= count)); then
    flag="${args[i]#"${args[i]%%[!-]*}"}"
    refuse "unknown option -- ${flag:0:1}"$'\n'"${USAGE}"
  fi
  option="${args[i + 1]}"
  key="${option%%=*}"
  value=""
  [[ "${option}" == *=* ]] && value="${option#*=}"
  case "${key}" in
    BatchMode) [[ "${value}" == yes ]] || refuse "kgen stand-in: the driver must use BatchMode=yes" ;;
    ConnectTimeout) [[ "${value}" =~ ^[0-9]+$ ]] || refuse "command-line line 0: invalid time value '${value}'" ;;
    *) refuse "command-line line 0: Bad configuration option: ${key,,}" ;;
  esac
  i=$((i + 2))
done
((i < count)) || refuse "${USAGE}"
destination="${args[i]}"
words=("${args[@]:i+1}")
user=""
host="${destination}"
if [[ "${destination}" == *@* ]]; then
  user="${destination%@*}"
  host="${destination##*@}"
fi
node="${KGEN_SSH_STANDIN_MAP}/${host}"
if [[ -z "${host}" || "${host}" == */* || "${host}" == . || "${host}" == .. || ! -f "${node}/user" ]]; then
  refuse "ssh: Could not resolve hostname ${host}: Name or service not known"
fi
IFS= read -r admin <"${node}/user"
[[ "${user}" == "${admin}" ]] || refuse "${user}@${host}: Permission denied (publickey)."
((${#words[@]} > 0)) || refuse "kgen stand-in: an interactive session was asked for"
line="${words[*]}"
if [[ -n "${KGEN_SSH_STANDIN_LOG:-}" ]]; then
  printf '%s\0' "${host}" "${user}" "${line}" "${i}" "${args[@]:0:i}" >>"${KGEN_SSH_STANDIN_LOG}"
fi
# The remote shell runs the command line (the stand-in's remote shell is bash): one word, quoted for it.
printf -v quoted '%q' "${line}"
mapfile -d '' -t argv <"${node}/argv"
for index in "${!argv[@]}"; do
  argv[index]="${argv[index]//"${PLACEHOLDER}"/"${quoted}"}"
done
exec "${argv[@]}"
