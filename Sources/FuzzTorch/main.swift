// placeholder: fuzz target (see scripts/fuzz.sh)
