#!/bin/bash
# Issue 17: the security review's curl lines against a real `notifier serve` (uvicorn) on real Redis.
set -u
cd "$(dirname "$0")/.."
N=.venv/bin/notifier
D=$(mktemp -d)
RPORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
redis-server --port $RPORT --save '' --appendonly no --daemonize no > $D/redis.log 2>&1 &
RPID=$!
trap 'kill $SPID $RPID 2>/dev/null; wait 2>/dev/null' EXIT
sleep 0.5
export NOTIFIER_REDIS_URL=redis://127.0.0.1:$RPORT/0 NOTIFIER_OUTBOX_DIR=$D/outbox NOTIFIER_DEV_MODE=true NOTIFIER_LOG_FORMAT=json
$N token --role caseworker --name anna > $D/anna.txt
$N token --role system --name case-system > $D/system.txt
export NOTIFIER_API_TOKENS="$(sed -n 's/^settings entry.*: //p' $D/anna.txt $D/system.txt | paste -sd,)"
ANNA=$(sed -n 's/^token.*: //p' $D/anna.txt); SYS=$(sed -n 's/^token.*: //p' $D/system.txt)
$N serve --host 127.0.0.1 --port $PORT > $D/serve.log 2>&1 &
SPID=$!
U=http://127.0.0.1:$PORT
for i in $(seq 50); do curl -s $U/healthz >/dev/null && break; sleep 0.2; done
show() { echo; echo "\$ $1"; }
c() { curl -s -o $D/body -w '%{http_code}' "$@"; echo " $(head -c 300 $D/body)"; }
EV=$(grep -v '^#' notifier/scenarios/demo.jsonl | head -1)
CASE=$(echo "$EV" | python3 -c 'import json,sys;print(json.load(sys.stdin)["case_id"])')
BAD=$(echo "$EV" | python3 -c 'import json,sys;e=json.load(sys.stdin);e["event_id"]="evt-x2";e["case_id"]="SDP-OTHER";e["data"]["first_absence_day"]="9999-12-31";print(json.dumps(e))')

show "1. POST /events [good, first_absence_day 9999-12-31]  (was 500, first event stored)"
c -X POST $U/events -H "Authorization: Bearer $SYS" -H 'Content-Type: application/json' -d "[$EV,$BAD]"
show "   GET /cases/$CASE afterwards (nothing stored)"
c $U/cases/$CASE -H "Authorization: Bearer $ANNA"
show "   POST /events [good]"
c -X POST $U/events -H "Authorization: Bearer $SYS" -H 'Content-Type: application/json' -d "[$EV]"
show "   POST /events occurred_at 9999-12-31T23:59:59-23:59"
c -X POST $U/events -H "Authorization: Bearer $SYS" -H 'Content-Type: application/json' -d "$(echo "$BAD" | python3 -c 'import json,sys;e=json.load(sys.stdin);e["data"]["first_absence_day"]="2026-11-20";e["occurred_at"]="9999-12-31T23:59:59-23:59";print(json.dumps(e))')"
show "   POST /letters/preview deadline 9999-12-31"
c -X POST $U/letters/preview -H "Authorization: Bearer $ANNA" -H 'Content-Type: application/json' -d '{"kind":"adhoc","paragraphs":["Hej"],"deadline":"9999-12-31"}'
show "   POST /cases/$CASE/letters send_at 9999-12-31T23:59:59+01:00"
c -X POST $U/cases/$CASE/letters -H "Authorization: Bearer $ANNA" -H 'Content-Type: application/json' -d '{"kind":"adhoc","paragraphs":["Hej"],"send_at":"9999-12-31T23:59:59+01:00"}'
LETTER=$(curl -s $U/cases/$CASE -H "Authorization: Bearer $ANNA" | python3 -c 'import json,sys;print(json.load(sys.stdin)["letters"][0]["letter_id"])')
show "   POST /receipts received_at 9999-12-31T23:59:59-23:59"
c -X POST $U/receipts -H "Authorization: Bearer $SYS" -H 'Content-Type: application/json' -d "{\"message_uuid\":\"$LETTER\",\"status\":\"delivered\",\"received_at\":\"9999-12-31T23:59:59-23:59\"}"

show "   /ui login (cookie jar), then /ui live preview send_at=0001-01-01T00:00"
curl -s -c $D/jar -o /dev/null -D $D/login.h -X POST $U/ui/login -H "Origin: $U" --data-urlencode "token=$ANNA" -d next=/ui
grep -i '^set-cookie' $D/login.h | sed -E 's/(notifier_ui=)[^;]{8}[^;]*/\1<random id, 43 chars>/'
c -b $D/jar -X POST $U/ui/cases/$CASE/letters/preview -H "Origin: $U" -d kind=adhoc -d text=Hej -d when=at -d send_at=0001-01-01T00:00

show "2. POST /letters/preview format=pdf, 250,000 CJK characters (was 34 s, 250,000 log lines)"
python3 -c 'import json;print(json.dumps({"kind":"adhoc","paragraphs":["中"*5000]*50,"format":"pdf"},ensure_ascii=False))' > $D/cjk.json
L0=$(wc -l < $D/serve.log)
/usr/bin/time -f '   %e s' curl -s -o $D/body -w '%{http_code}' -X POST $U/letters/preview -H "Authorization: Bearer $ANNA" -H 'Content-Type: application/json' --data-binary @$D/cjk.json; echo " $(head -c 200 $D/body)"
show "   the same with 200 CJK characters (within the size limit)"
/usr/bin/time -f '   %e s' curl -s -o $D/body -w '%{http_code}' -X POST $U/letters/preview -H "Authorization: Bearer $ANNA" -H 'Content-Type: application/json' -d "{\"kind\":\"adhoc\",\"paragraphs\":[\"$(python3 -c 'print("中"*200)')\"],\"format\":\"pdf\"}"; echo " $(head -c 200 $D/body)"
show "   a 48,990-character Danish letter as PDF (near the largest accepted), then one of 50,001"
python3 -c 'import json;print(json.dumps({"kind":"adhoc","paragraphs":["Kære Søren, dette er en lang tekst om din sag. "*100]*10+["x"*2000],"format":"pdf"}))' > $D/long.json
/usr/bin/time -f '   %e s' curl -s -o $D/long.pdf -w '%{http_code}' -X POST $U/letters/preview -H "Authorization: Bearer $ANNA" -H 'Content-Type: application/json' --data-binary @$D/long.json; echo " $(stat -c %s $D/long.pdf) bytes"
python3 -c 'import json;print(json.dumps({"kind":"adhoc","paragraphs":["x"*5000]*10+["y"],"format":"pdf"},ensure_ascii=False))' > $D/long2.json
c -X POST $U/letters/preview -H "Authorization: Bearer $ANNA" -H 'Content-Type: application/json' --data-binary @$D/long2.json
echo "   log lines written during these previews: $(( $(wc -l < $D/serve.log) - L0 )), weasyprint/fontTools lines: $(tail -n +$L0 $D/serve.log | grep -c -i -E 'weasyprint|fonttools|notdef')"

show "3. CPR spellings"
for cpr in "0101 90 1234" "010190 1234" "01.01.90-1234" "010190‑1234"; do
  printf '   adhoc paragraph %-16s -> ' "\"$cpr\""; c -X POST $U/cases/$CASE/letters -H "Authorization: Bearer $ANNA" -H 'Content-Type: application/json' -d "{\"kind\":\"adhoc\",\"paragraphs\":[\"CPR $cpr\"]}"
done
show "   event_id / caseworker.id 010190-1234"
c -X POST $U/events -H "Authorization: Bearer $SYS" -H 'Content-Type: application/json' -d "$(echo "$EV" | python3 -c 'import json,sys;e=json.load(sys.stdin);e["event_id"]="010190-1234";e["data"]["caseworker"]["id"]="010190-1234";print(json.dumps(e))')"
show "   GET /cases/010190%201234"
c "$U/cases/010190%201234" -H "Authorization: Bearer $ANNA"
grep '"path": "/cases/' $D/serve.log | tail -1 | cut -c1-300
PENDING=$(curl -s $U/cases/$CASE -H "Authorization: Bearer $ANNA" | python3 -c 'import json,sys;print([x for x in json.load(sys.stdin)["letters"] if x["cancellable"]][-1]["letter_id"])')
show "   POST /letters/$PENDING/cancel reason 'forkert person 0101 90 1234' -> audit"
c -X POST $U/letters/$PENDING/cancel -H "Authorization: Bearer $ANNA" -H 'Content-Type: application/json' -d '{"reason":"forkert person 0101 90 1234"}'
redis-cli -p $RPORT lrange notifier:audit:$CASE -1 -1 | cut -c1-300

show "4. session: logout, then the old cookie replayed"
OLD=$(awk '$6=="notifier_ui"{print $7}' $D/jar)
c -b $D/jar -X POST $U/ui/logout -H "Origin: $U"
c -b "notifier_ui=$OLD" $U/ui/cases/$CASE
show "   the bearer token as the cookie (the old session) "
c -b "notifier_ui=$ANNA" $U/ui/cases/$CASE
show "   notifier token --role caseworker --name bo (stored in Redis), list, use, revoke, use"
$N token --role caseworker --name bo > $D/bo.txt; sed -E 's/(: )[A-Za-z0-9_-]{40,}$/\1<token>/; s/(:caseworker:bo:)[0-9a-f]{64}/\1<sha256>/' $D/bo.txt
BO=$(sed -n 's/^token.*: //p' $D/bo.txt)
$N token list
c $U/cases/$CASE -H "Authorization: Bearer $BO"
$N token revoke bo
c $U/cases/$CASE -H "Authorization: Bearer $BO"

show "5. 300 wrong tokens from one address"
for i in $(seq 300); do curl -s -o /dev/null -w '%{http_code}\n' $U/metrics -H "Authorization: Bearer wrong-$i"; done | sort | uniq -c
echo "   a right token from that address now:"; c $U/metrics -H "Authorization: Bearer $SYS"
echo "   the request log (principal, client):"
grep '"http.request"' $D/serve.log | grep -m1 '"caseworker:anna"' | cut -c1-300
grep -m1 '"auth.failed"' $D/serve.log | cut -c1-300
grep -m1 '"auth.rate_limited"' $D/serve.log | cut -c1-300
echo "   any token in the log? $(grep -c -F -e "$ANNA" -e "$SYS" -e "$BO" $D/serve.log)"
redis-cli -p $RPORT del "notifier:login-failures:127.0.0.1" > /dev/null

show "6. citizen name with CR/LF; caseworker.email x,evil@attacker.dk; a NUL in it"
for mut in 'e["data"]["citizen"]["name"]="Mette\r\nHansen"' 'e["data"]["caseworker"]["email"]="x,evil@attacker.dk"' 'e["data"]["caseworker"]["email"]="lise\u0000@eksempel.dk"'; do
  c -X POST $U/events -H "Authorization: Bearer $SYS" -H 'Content-Type: application/json' -d "$(echo "$EV" | python3 -c "import json,sys;e=json.load(sys.stdin);e['event_id']='evt-m';e['case_id']='SDP-M';$mut;print(json.dumps(e))")"
done

show "7. /docs, /openapi.json without and with a token; form post with a foreign Referer; slow head"
c -o /dev/null $U/docs; curl -s -o /dev/null -w '   /docs -> %{http_code} %{redirect_url}\n' $U/docs
c $U/openapi.json
curl -s -o /dev/null -w '   /openapi.json with token -> %{http_code}\n' $U/openapi.json -H "Authorization: Bearer $SYS"
curl -s -c $D/jar2 -o /dev/null -X POST $U/ui/login -H "Origin: $U" --data-urlencode "token=$ANNA"
curl -s -o /dev/null -w '   form post, no Origin, Referer https://evil.example/x -> %{http_code}\n' -b $D/jar2 -X POST $U/ui/cases -H "Referer: https://evil.example/x" -d case_id=$CASE
curl -s -o /dev/null -w '   form post, no Origin, Sec-Fetch-Site: cross-site -> %{http_code}\n' -b $D/jar2 -X POST $U/ui/cases -H "Sec-Fetch-Site: cross-site" -d case_id=$CASE
curl -s -o /dev/null -w '   form post, no Origin, own Referer -> %{http_code}\n' -b $D/jar2 -X POST $U/ui/cases -H "Referer: $U/ui" -d case_id=$CASE
START=$(date +%s.%N)
exec 3<>/dev/tcp/127.0.0.1/$PORT; printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n' >&3; cat <&3; exec 3<&-
echo "   half a request head: connection closed by the server after $(python3 -c "print(round($(date +%s.%N)-$START,1))") s"
