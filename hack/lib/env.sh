# Shared settings for hack/ scripts. PGO_CACHE holds built binaries and images, outside the repository.
export PGO_CACHE=${PGO_CACHE:-/var/cache/pg-operator}
export PATH=/usr/local/go/bin:$PATH
mkdir -p "$PGO_CACHE"
