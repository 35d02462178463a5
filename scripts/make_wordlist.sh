#!/usr/bin/env bash
# Rebuild engine/perturb/data/english-words.txt.gz, the word list `format` checks its typos
# against (a typo that spells another real word, "spends" -> "sends", changes the problem).
# Source: Debian's wamerican and wbritish (SCOWL, Kevin Atkinson); engine/perturb/data/NOTICE
# holds their notices (/usr/share/doc/wamerican/copyright), which must travel with the list.
# The list is shipped, not read from /usr/share/dict at run time, so that a variant is the same on
# every machine. Run as root on Debian/Ubuntu: it installs the two packages.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f /usr/share/dict/american-english ] || [ ! -f /usr/share/dict/british-english ]; then
    apt-get install -y -qq wamerican wbritish >/dev/null
fi
# Words written in lower case, letters only: no proper nouns, so "Brett" or "Marin" at the start
# of a sentence reads as a name; short words too, so "The" is no spelling of "Theo".
cat /usr/share/dict/american-english /usr/share/dict/british-english \
    | grep -E '^[a-z]+$' | LC_ALL=C sort -u \
    | gzip -9 -n > engine/perturb/data/english-words.txt.gz
echo "engine/perturb/data/english-words.txt.gz: $(zcat engine/perturb/data/english-words.txt.gz | wc -l) words"
