#!/usr/bin/env bash
# Set up (or refresh) the project's virtual environment in .venv.
#   bash setup_env.sh && source .venv/bin/activate
# Idempotent: a second run checks what is there and installs nothing new.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT="$(pwd)"
PY="${PYTHON:-python3}"
VENV="$ROOT/.venv"

# torch / torchvision must be a matching pair: nnU-Net's trainer lookup imports timm -> torchvision,
# and a mismatched torchvision breaks every -tr except nnUNetTrainer (see README, "doctor").
case "$(uname -m)" in
  x86_64)  TORCH_PAIR=("torch==2.14.1" "torchvision==0.29.1") ;;
  aarch64|arm64) TORCH_PAIR=("torch==2.9.1" "torchvision==0.24.1") ;;
  *) TORCH_PAIR=("torch" "torchvision") ;;
esac

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup_env] creating $VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"

if ! "$VPY" -c "import torch, torchvision" >/dev/null 2>&1; then
  echo "[setup_env] installing ${TORCH_PAIR[*]} (a matching pair)"
  "$VPY" -m pip install -q --upgrade pip
  "$VPY" -m pip install -q "${TORCH_PAIR[@]}"
fi

# Editable install of the package with its test extra; re-run only when pyproject.toml changed.
STAMP="$VENV/.nnunet_svl_pyproject.sha256"
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ] || ! "$VPY" -c "import nnunet_svl, nnunetv2" >/dev/null 2>&1; then
  echo "[setup_env] installing nnunet_svl (editable, with test extra)"
  # keep the torch pair installed above: nnunetv2 would otherwise be free to pull another build
  "$VPY" -m pip install -q -e ".[test]" "${TORCH_PAIR[@]}"
  echo "$WANT" > "$STAMP"
fi

# nnU-Net >= 2.8 looks for trainers in the folders named by nnUNet_extTrainer (os.pathsep-separated).
# Point it at our re-export folder whenever the venv is activated.
EXT_DIR="$ROOT/nnunet_svl/ext_trainers"
ACT="$VENV/bin/activate"
if ! grep -q ">>> nnunet_svl >>>" "$ACT"; then
  cat >> "$ACT" <<ACTEOF

# >>> nnunet_svl >>>
_nnunet_svl_ext="$EXT_DIR"
case ":\${nnUNet_extTrainer:-}:" in
  *":\$_nnunet_svl_ext:"*) ;;
  *) export nnUNet_extTrainer="\${nnUNet_extTrainer:+\$nnUNet_extTrainer:}\$_nnunet_svl_ext" ;;
esac
unset _nnunet_svl_ext
# <<< nnunet_svl <<<
ACTEOF
fi

echo "[setup_env] ready: source .venv/bin/activate && nnunet-svl doctor"
