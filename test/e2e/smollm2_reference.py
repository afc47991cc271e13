"""An independent numpy forward pass of SmolLM2-135M straight from the GGUF tensors, the way llama.cpp computes it:
Q and K rows stay in the GGUF's order and RoPE rotates adjacent pairs (x[2j], x[2j+1]) by position * 1e5^(-2j/64),
so the ONNX builder's un-permutation to rotate-half form is checked, not shared. Nothing here imports the builder.

    logits = Reference(gguf_path).logits(token_ids)        # [seq, 49152], one sequence, causal, no padding
"""
import gguf
import numpy as np


class Reference:
    def __init__(self, path, dtype=np.float64):
        reader = gguf.GGUFReader(str(path))
        field = lambda k: reader.fields[k].contents()
        self.layers = int(field("llama.block_count"))
        self.n_head = int(field("llama.attention.head_count"))
        self.n_kv = int(field("llama.attention.head_count_kv"))
        self.dim = int(field("llama.embedding_length"))
        self.head_dim = self.dim // self.n_head
        self.theta = float(field("llama.rope.freq_base"))
        self.eps = float(field("llama.attention.layer_norm_rms_epsilon"))
        self.dtype = dtype
        # ggml's [ne0 = in, ne1 = out] tensors dequantize to numpy [out, in].
        self.t = {x.name: gguf.quants.dequantize(x.data, x.tensor_type).astype(dtype) for x in reader.tensors}
        self.tok_embd = self.t["token_embd.weight"]
        self.output = self.t.get("output.weight", self.tok_embd)

    def norm(self, x, weight):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * weight

    def rope_adjacent(self, x, pos):
        """x [seq, heads, head_dim]; pairs (2j, 2j+1) rotated as the complex number x[2j] + i x[2j+1]."""
        j = np.arange(self.head_dim // 2, dtype=np.float64)
        angle = pos[:, None].astype(np.float64) * self.theta ** (-2.0 * j / self.head_dim)  # [seq, hd/2]
        z = (x[..., 0::2] + 1j * x[..., 1::2]) * np.exp(1j * angle)[:, None, :]
        out = np.empty_like(x)
        out[..., 0::2], out[..., 1::2] = z.real, z.imag
        return out

    def hidden(self, ids, start_pos=0):
        """Final normed hidden states [seq, dim] for ids at positions start_pos.. (no cache: start_pos only shifts
        the rotations)."""
        ids = np.asarray(ids)
        s = len(ids)
        pos = np.arange(start_pos, start_pos + s)
        x = self.tok_embd[ids]
        future = np.triu(np.ones((s, s), bool), k=1)
        group = self.n_head // self.n_kv
        for i in range(self.layers):
            t = lambda n: self.t[f"blk.{i}.{n}.weight"]
            h = self.norm(x, t("attn_norm"))
            q = self.rope_adjacent((h @ t("attn_q").T).reshape(s, self.n_head, self.head_dim), pos)
            k = self.rope_adjacent((h @ t("attn_k").T).reshape(s, self.n_kv, self.head_dim), pos)
            v = (h @ t("attn_v").T).reshape(s, self.n_kv, self.head_dim)
            ctx = np.empty((s, self.n_head, self.head_dim), self.dtype)
            for hq in range(self.n_head):
                kv = hq // group  # llama.cpp's broadcast: query head hq reads key/value head hq // group
                sc = q[:, hq] @ k[:, kv].T / np.sqrt(self.head_dim)
                sc[future] = -np.inf
                sc = np.exp(sc - sc.max(axis=-1, keepdims=True))
                ctx[:, hq] = (sc / sc.sum(axis=-1, keepdims=True)) @ v[:, kv]
            x = x + ctx.reshape(s, self.dim) @ t("attn_output").T
            h = self.norm(x, t("ffn_norm"))
            gate = h @ t("ffn_gate").T
            x = x + ((gate / (1 + np.exp(-gate))) * (h @ t("ffn_up").T)) @ t("ffn_down").T
        return self.norm(x, self.t["output_norm.weight"])

    def logits(self, ids, start_pos=0):
        return self.hidden(ids, start_pos) @ self.output.T

    def window_nll(self, ids):
        """Mean negative log-likelihood of ids[1:] given the prefixes (one window, natural log)."""
        logits = self.logits(ids)[:-1].astype(np.float64)
        m = logits.max(axis=-1, keepdims=True)
        logz = (m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True)))[:, 0]
        return float(np.mean(logz - logits[np.arange(len(ids) - 1), np.asarray(ids)[1:]]))
