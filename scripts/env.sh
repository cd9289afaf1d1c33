# Source me: `. scripts/env.sh`. Exports what `cargo build` needs to find libtorch.
# LSSG_HOME (default ~/.cache/lssg) holds the Python venv with PyPI's torch==2.13.0,
# installed by scripts/setup. Nothing here downloads anything.
export LSSG_HOME="${LSSG_HOME:-$HOME/.cache/lssg}"
_lssg_torch=$(ls -d "$LSSG_HOME"/venv/lib/python3*/site-packages/torch 2>/dev/null | head -n 1)
if [ -n "$_lssg_torch" ]; then
    # torch-sys reads LIBTORCH/{include,lib}; the PyPI wheel is built with the C++11 ABI.
    export LIBTORCH="$_lssg_torch"
    export LIBTORCH_CXX11_ABI=1
    unset LIBTORCH_USE_PYTORCH
else
    echo "lssg: no torch in $LSSG_HOME/venv; run scripts/setup first" >&2
fi
unset _lssg_torch
