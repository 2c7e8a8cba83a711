# bash completion for vmail: made by `npm run completion` from the command definitions.
# Install: cp vmail.bash /usr/share/bash-completion/completions/vmail
# Domains and accounts are asked of the running daemon (vmail __complete, quiet when it is down).

# _vmail_offer KIND: COMPREPLY for a value of that kind, matching $cur.
_vmail_offer() {
  local kind=$1
  case $kind in
    file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
    domains|accounts|forwards)
      local found
      found=$("${COMP_WORDS[0]}" __complete "$kind" "$cur" "${pass[@]}" 2>/dev/null)
      mapfile -t COMPREPLY < <(compgen -W "$found" -- "$cur") ;;
    *) COMPREPLY=() ;;
  esac
}

_vmail() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd="" i words="" args="" kind="" n=0 leaf=""
  local -a pass=()
  # The command path so far, the arguments after it, and the options that say where the daemon is.
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      --socket|--data-dir|--config) pass+=("${COMP_WORDS[i]}" "${COMP_WORDS[i+1]}"); ((i++)) ;;
      -*)
        kind=""
        case ${COMP_WORDS[i]} in
        --data-dir) kind=dir ;;
        --socket) kind=file ;;
        --store) kind=- ;;
        --node) kind=- ;;
        --watch-limit) kind=- ;;
        --domain) kind=domains ;;
        --postmaster) kind=- ;;
        --pop3) kind=- ;;
        --pop3s) kind=- ;;
        --smtp) kind=- ;;
        --submission) kind=- ;;
        --submissions) kind=- ;;
        --quota-warn) kind=- ;;
        --send-limit) kind=- ;;
        --http) kind=- ;;
        --https) kind=- ;;
        --metrics) kind=- ;;
        --apply-interval) kind=- ;;
        --relay) kind=- ;;
        --relay-ca-file) kind=file ;;
        --tls-cert) kind=file ;;
        --tls-key) kind=file ;;
        --acme) kind=- ;;
        --acme-email) kind=- ;;
        --acme-ca-file) kind=file ;;
        --acme-names) kind=- ;;
        --require-tls-auth) kind=- ;;
        --max-message-size) kind=- ;;
        --max-connections) kind=- ;;
        --max-connections-per-address) kind=- ;;
        --auth-failure-delay) kind=- ;;
        --auth-cache) kind=- ;;
        --rescan-interval) kind=- ;;
        --relay-timeout) kind=- ;;
        --pop3-idle-timeout) kind=- ;;
        --rspamd) kind=- ;;
        --rspamd-fail) kind=- ;;
        --rspamd-timeout) kind=- ;;
        --srs-max-age) kind=- ;;
        --audit-retention) kind=- ;;
        --trail-days) kind=- ;;
        --resolver) kind=- ;;
        --hostname) kind=- ;;
        --user) kind=- ;;
        --log-level) kind=- ;;
        --config) kind=file ;;
        --selector) kind=- ;;
        --algorithm) kind=- ;;
        --messages) kind=- ;;
        --stale) kind=- ;;
        --keep-forward) kind=- ;;
        --part) kind=- ;;
        --since) kind=- ;;
        --address) kind=accounts ;;
        --limit) kind=- ;;
        --from) kind=- ;;
        --message-id) kind=- ;;
        --passwd-file) kind=file ;;
        --maildirs) kind=dir ;;
        --layout) kind=- ;;
        --uidl-format) kind=- ;;
        --to) kind=- ;;
        --root) kind=dir ;;
        esac
        # An option's value is not part of the command path.
        [[ -n $kind ]] && ((i++)) ;;
      *)
        if [[ -n $leaf ]]; then ((n++)); else cmd="${cmd:+$cmd }${COMP_WORDS[i]}"; fi
        args=""
        case "$cmd" in
          "daemon") args="" ;;
          "console") args="" ;;
          "up") args="" ;;
          "status") args="" ;;
          "domains list") args="" ;;
          "domains add") args="domains" ;;
          "domains remove") args="domains" ;;
          "domains dkim") args="domains" ;;
          "domains quota") args="domains -" ;;
          "domains catchall") args="domains -" ;;
          "domains settings") args="domains" ;;
          "domains dns") args="domains" ;;
          "domains check") args="domains" ;;
          "accounts list") args="" ;;
          "accounts add") args="accounts" ;;
          "accounts passwd") args="accounts" ;;
          "accounts import") args="file" ;;
          "accounts export") args="" ;;
          "accounts remove") args="accounts" ;;
          "accounts quota") args="accounts -" ;;
          "accounts suspend") args="accounts" ;;
          "accounts rename") args="accounts -" ;;
          "accounts resume") args="accounts" ;;
          "accounts limits") args="accounts" ;;
          "forwards list") args="" ;;
          "forwards add") args="forwards -" ;;
          "forwards remove") args="forwards" ;;
          "pending list") args="" ;;
          "pending cancel") args="-" ;;
          "pending apply") args="" ;;
          "queue list") args="" ;;
          "queue retry") args="-" ;;
          "log") args="" ;;
          "trace") args="-" ;;
          "import dovecot") args="" ;;
          "import vpopmail") args="dir" ;;
          "export dovecot-passwd") args="" ;;
          "export dovecot-uidlists") args="" ;;
          "export postfix") args="dir" ;;
          "store migrate") args="" ;;
          "backup verify") args="dir" ;;
          "restore") args="dir" ;;
          "config check") args="" ;;
          "setup") args="" ;;
        esac
        [[ -n $args || -n $leaf ]] && leaf=1 ;;
    esac
  done
  # The value of an option.
  kind=""
  case $prev in
    --data-dir) kind=dir ;;
    --socket) kind=file ;;
    --store) kind=- ;;
    --node) kind=- ;;
    --watch-limit) kind=- ;;
    --domain) kind=domains ;;
    --postmaster) kind=- ;;
    --pop3) kind=- ;;
    --pop3s) kind=- ;;
    --smtp) kind=- ;;
    --submission) kind=- ;;
    --submissions) kind=- ;;
    --quota-warn) kind=- ;;
    --send-limit) kind=- ;;
    --http) kind=- ;;
    --https) kind=- ;;
    --metrics) kind=- ;;
    --apply-interval) kind=- ;;
    --relay) kind=- ;;
    --relay-ca-file) kind=file ;;
    --tls-cert) kind=file ;;
    --tls-key) kind=file ;;
    --acme) kind=- ;;
    --acme-email) kind=- ;;
    --acme-ca-file) kind=file ;;
    --acme-names) kind=- ;;
    --require-tls-auth) kind=- ;;
    --max-message-size) kind=- ;;
    --max-connections) kind=- ;;
    --max-connections-per-address) kind=- ;;
    --auth-failure-delay) kind=- ;;
    --auth-cache) kind=- ;;
    --rescan-interval) kind=- ;;
    --relay-timeout) kind=- ;;
    --pop3-idle-timeout) kind=- ;;
    --rspamd) kind=- ;;
    --rspamd-fail) kind=- ;;
    --rspamd-timeout) kind=- ;;
    --srs-max-age) kind=- ;;
    --audit-retention) kind=- ;;
    --trail-days) kind=- ;;
    --resolver) kind=- ;;
    --hostname) kind=- ;;
    --user) kind=- ;;
    --log-level) kind=- ;;
    --config) kind=file ;;
    --selector) kind=- ;;
    --algorithm) kind=- ;;
    --messages) kind=- ;;
    --stale) kind=- ;;
    --keep-forward) kind=- ;;
    --part) kind=- ;;
    --since) kind=- ;;
    --address) kind=accounts ;;
    --limit) kind=- ;;
    --from) kind=- ;;
    --message-id) kind=- ;;
    --passwd-file) kind=file ;;
    --maildirs) kind=dir ;;
    --layout) kind=- ;;
    --uidl-format) kind=- ;;
    --to) kind=- ;;
    --root) kind=dir ;;
  esac
  if [[ -n $kind && $prev == -* ]]; then _vmail_offer "$kind"; return; fi
  # An argument of a command that takes some: a file, a domain, an account.
  if [[ -n $leaf && $cur != -* ]]; then
    local -a kinds=($args)
    if ((${#kinds[@]})); then
      ((n >= ${#kinds[@]})) && n=$((${#kinds[@]} - 1))
      _vmail_offer "${kinds[n]}"
    fi
    return
  fi
  case "$cmd" in
    "export dovecot-uidlists"|"export dovecot-uidlists "*) words="--socket --data-dir --config --domain --help" ;;
    "export dovecot-passwd"|"export dovecot-passwd "*) words="--socket --data-dir --config --domain --help" ;;
    "domains catchall"|"domains catchall "*) words="--socket --data-dir --config --help" ;;
    "domains settings"|"domains settings "*) words="--socket --data-dir --config --help" ;;
    "accounts suspend"|"accounts suspend "*) words="--refuse-mail --socket --data-dir --config --domain --help" ;;
    "accounts passwd"|"accounts passwd "*) words="--socket --data-dir --config --domain --password-stdin --help" ;;
    "accounts import"|"accounts import "*) words="--dry-run --skip-bad --socket --data-dir --config --json --domain --help" ;;
    "accounts export"|"accounts export "*) words="--socket --data-dir --config --domain --help" ;;
    "accounts remove"|"accounts remove "*) words="--socket --data-dir --config --domain --help" ;;
    "accounts rename"|"accounts rename "*) words="--keep-forward --socket --data-dir --config --domain --help" ;;
    "accounts resume"|"accounts resume "*) words="--socket --data-dir --config --domain --help" ;;
    "accounts limits"|"accounts limits "*) words="--socket --data-dir --config --json --domain --help" ;;
    "forwards remove"|"forwards remove "*) words="--socket --data-dir --config --domain --help" ;;
    "import vpopmail"|"import vpopmail "*) words="--move --dry-run --skip-bad --socket --data-dir --config --json --domain --help" ;;
    "domains remove"|"domains remove "*) words="--with-accounts --socket --data-dir --config --help" ;;
    "accounts quota"|"accounts quota "*) words="--messages --socket --data-dir --config --domain --help" ;;
    "pending cancel"|"pending cancel "*) words="--part --socket --data-dir --config --help" ;;
    "import dovecot"|"import dovecot "*) words="--passwd-file --maildirs --layout --uidl-format --move --dry-run --skip-bad --socket --data-dir --config --json --domain --help" ;;
    "export postfix"|"export postfix "*) words="--socket --data-dir --config --help" ;;
    "domains quota"|"domains quota "*) words="--messages --socket --data-dir --config --help" ;;
    "domains check"|"domains check "*) words="--socket --data-dir --config --json --help" ;;
    "accounts list"|"accounts list "*) words="--stale --socket --data-dir --config --json --domain --help" ;;
    "forwards list"|"forwards list "*) words="--socket --data-dir --config --json --domain --help" ;;
    "pending apply"|"pending apply "*) words="--socket --data-dir --config --json --domain --help" ;;
    "store migrate"|"store migrate "*) words="--from --to --help" ;;
    "backup verify"|"backup verify "*) words="--help" ;;
    "domains list"|"domains list "*) words="--socket --data-dir --config --json --help" ;;
    "domains dkim"|"domains dkim "*) words="--selector --algorithm --ed25519 --socket --data-dir --config --json --help" ;;
    "accounts add"|"accounts add "*) words="--socket --data-dir --config --domain --password-stdin --help" ;;
    "forwards add"|"forwards add "*) words="--socket --data-dir --config --domain --help" ;;
    "pending list"|"pending list "*) words="--socket --data-dir --config --json --domain --help" ;;
    "config check"|"config check "*) words="--config --json --help" ;;
    "domains add"|"domains add "*) words="--socket --data-dir --config --help" ;;
    "domains dns"|"domains dns "*) words="--socket --data-dir --config --json --help" ;;
    "queue retry"|"queue retry "*) words="--socket --data-dir --config --help" ;;
    "queue list"|"queue list "*) words="--socket --data-dir --config --json --help" ;;
    "accounts"|"accounts "*) words="list add passwd import export remove quota suspend rename resume limits" ;;
    "forwards"|"forwards "*) words="list add remove" ;;
    "console"|"console "*) words="--socket --data-dir --config --help" ;;
    "domains"|"domains "*) words="list add remove dkim quota catchall settings dns check" ;;
    "pending"|"pending "*) words="list cancel apply" ;;
    "restore"|"restore "*) words="--data-dir --store --help" ;;
    "daemon"|"daemon "*) words="--data-dir --socket --store --node --watch-limit --domain --postmaster --pop3 --pop3s --smtp --submission --submissions --quota-warn --send-limit --http --https --metrics --apply-interval --relay --relay-ca-file --tls-cert --tls-key --acme --acme-email --acme-ca-file --acme-names --require-tls-auth --max-message-size --max-connections --max-connections-per-address --auth-failure-delay --auth-cache --rescan-interval --relay-timeout --pop3-idle-timeout --rspamd --rspamd-fail --rspamd-timeout --srs-max-age --audit-retention --trail-days --resolver --hostname --user --log-level --config --help" ;;
    "status"|"status "*) words="--socket --data-dir --config --json --help" ;;
    "import"|"import "*) words="dovecot vpopmail" ;;
    "export"|"export "*) words="dovecot-passwd dovecot-uidlists postfix" ;;
    "backup"|"backup "*) words="verify" ;;
    "config"|"config "*) words="check" ;;
    "queue"|"queue "*) words="list retry" ;;
    "trace"|"trace "*) words="--since --from --message-id --socket --data-dir --config --json --help" ;;
    "store"|"store "*) words="migrate" ;;
    "setup"|"setup "*) words="--domain --hostname --postmaster --root --dry-run --help" ;;
    "log"|"log "*) words="--since --user --address --limit --socket --data-dir --config --json --help" ;;
    "up"|"up "*) words="--data-dir --socket --help" ;;
    "") words="daemon console up status domains accounts forwards pending queue log trace import export store backup restore config setup --help --version" ;;
  esac
  mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}
complete -F _vmail vmail
