#!/usr/bin/env bash
# Generator time for a configuration of 100 devices.   bench/generator/measure.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")"
dotnet run -c Release -- "${1:-30}"
