"""From a file to a run: NASM, guest headers, the options they set, and running one guest."""
