# bash completion for vmail: made by `npm run completion` from the command definitions.
# Install: cp vmail.bash /usr/share/bash-completion/completions/vmail

_vmail() {
  local cur=${COMP_WORDS[COMP_CWORD]} cmd="" i words=""
  # The command path so far: the words before this one that are not options.
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      -*) ;;
      *) cmd="${cmd:+$cmd }${COMP_WORDS[i]}" ;;
    esac
  done
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
    "domains dkim"|"domains dkim "*) words="--selector --socket --data-dir --config --json --help" ;;
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
    "daemon"|"daemon "*) words="--data-dir --socket --store --node --watch-limit --domain --postmaster --pop3 --pop3s --smtp --submission --submissions --send-limit --http --apply-interval --relay --relay-ca-file --tls-cert --tls-key --require-tls-auth --max-message-size --max-connections --max-connections-per-address --auth-failure-delay --rescan-interval --relay-timeout --pop3-idle-timeout --rspamd --rspamd-fail --rspamd-timeout --srs-max-age --audit-retention --trail-days --resolver --hostname --user --log-level --config --help" ;;
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
