/*
 * forward.c: the forward pass, one function that reads top to bottom, layer
 * by layer, as a list of backend ops. Tokens go through in chunks of at most
 * n_batch. Logits are computed for the last token, or (perplexity) for every
 * token from a given one on, one row at a time through the one-row logits
 * buffer, so no buffer outside the plan's size table is needed.
 */
#include "model_impl.h"
#include "../tensor/tensor.h"

#include <string.h>


/* A view of the first n rows of v. */
static struct ty_view rows(struct ty_view v, int64_t n) {
  v.rows = n;
  return v;
}


/* A view of row r of v as a one-row matrix. */
static struct ty_view row(struct ty_view v, int64_t r) {
  v.data = (char *)v.data + (size_t)r * v.stride;
  v.rows = 1;
  return v;
}


static ty_status op_norm(ty_backend_t be, struct ty_view dst, struct ty_view x, struct ty_view w,
                         int group, float eps, ty_err *err) {
  struct ty_op op = { .kind = TY_OP_RMSNORM, .dst = dst, .a = x, .b = w, .i0 = group, .eps = eps };
  return ty_backend_run(be, &op, err);
}


static ty_status op_matmul(ty_backend_t be, struct ty_view dst, struct ty_view w, struct ty_view x,
                           ty_err *err) {
  struct ty_op op = { .kind = TY_OP_MATMUL, .dst = dst, .a = w, .b = x };
  return ty_backend_run(be, &op, err);
}


static ty_status op_binary(ty_backend_t be, enum ty_op_kind kind, struct ty_view dst,
                           struct ty_view a, struct ty_view b, int i0, ty_err *err) {
  struct ty_op op = { .kind = kind, .dst = dst, .a = a, .b = b, .i0 = i0 };
  return ty_backend_run(be, &op, err);
}


/* q, k and v from one x: in one fused op where the backend has it. */
static ty_status op_qkv(ty_backend_t be, struct ty_view q, struct ty_view k, struct ty_view v,
                        const struct ty_layer_weights *L, struct ty_view x, ty_err *err) {
  struct ty_op op = { .kind = TY_OP_MATMUL3, .dst = q, .a = L->wq, .b = x, .dst2 = k,
                      .c = L->wk, .dst3 = v, .d = L->wv };
  ty_status st;
  if (ty_backend_supports(be, &op)) return ty_backend_run(be, &op, err);
  if ((st = op_matmul(be, q, L->wq, x, err)) || (st = op_matmul(be, k, L->wk, x, err)))
    return st;
  return op_matmul(be, v, L->wv, x, err);
}


/* hb = act(gate x) * (up x), with hb2 = up x: fused where the backend has it. */
static ty_status op_ffn_glu(ty_backend_t be, struct ty_view hb, struct ty_view hb2,
                            const struct ty_layer_weights *L, struct ty_view x, int act,
                            ty_err *err) {
  struct ty_op op = { .kind = TY_OP_MATMUL_GLU, .dst = hb, .a = L->gate, .b = x, .dst2 = hb2,
                      .c = L->up, .i0 = act };
  ty_status st;
  if (ty_backend_supports(be, &op)) return ty_backend_run(be, &op, err);
  if ((st = op_matmul(be, hb, L->gate, x, err)) || (st = op_matmul(be, hb2, L->up, x, err)))
    return st;
  return op_binary(be, TY_OP_GLU, hb, hb, hb2, act, err);
}


/* Hands the residual stream (n rows of x) from device `from` to device
   `to` at a layer boundary: from the CPU by the receiver's set (a plain copy
   between CPUs), from a GPU by its get, which writes host memory or, through
   unified addressing, another GPU's, and returns when the copy is done. */
static ty_status handover(ty_model *m, int from, int to, int n, ty_err *err) {
  struct ty_view src = m->dev[from].act[TY_STATE_X], dst = m->dev[to].act[TY_STATE_X];
  size_t size = (size_t)n * src.stride;
  if (m->dev[from].kind == TY_DEV_CPU)
    return ty_backend_set(m->dev[to].be, dst.data, src.data, size, err);
  return ty_backend_get(m->dev[from].be, dst.data, src.data, size, err);
}


/* One chunk of n tokens at positions s->pos[0..n). Device 0 embeds, each
   layer runs on its device, and the output layer on its own, for rows
   [lo, n) (none when lo == n): each row's logits land in logits_host and,
   with fn, are handed to fn as token base + row. */
static ty_status forward_chunk(ty_model *m, const int32_t *tokens, int n, int lo,
                               ty_logits_fn fn, void *ud, int base, ty_err *err) {
  const struct ty_hparams *hp = &m->hp;
  const struct ty_weights *w = &m->w;
  struct ty_state *s = &m->s;
  int cur = 0;
  ty_backend_t be = m->dev[0].be;
  const struct ty_view *A = m->dev[0].act;
  int act = hp->arch == TY_ARCH_GEMMA3 ? TY_ACT_GELU : TY_ACT_SILU;
  ty_status st;

  struct ty_op embed = { .kind = TY_OP_GET_ROWS, .dst = rows(A[TY_STATE_X], n), .a = w->tok_embd,
                         .ids = tokens, .f0 = hp->embd_scale };
  if ((st = ty_backend_run(be, &embed, err)) != TY_OK) return st;

  for (int l = 0; l < hp->n_layer; l++) {
    const struct ty_layer_weights *L = &w->layers[l];
    bool swa = hp->swa_pattern > 0 && hp->sliding_window > 0 &&
               l % hp->swa_pattern < hp->swa_pattern - 1;

    if (m->cancel != NULL && m->cancel(m->cancel_ud))
      return ty_err_set(err, TY_ERR_CANCELLED, "interrupted");
    if (m->layer_dev[l] != cur) {
      if ((st = handover(m, cur, m->layer_dev[l], n, err)) != TY_OK) return st;
      cur = m->layer_dev[l];
    }
    be = m->dev[cur].be;
    A = m->dev[cur].act;
    struct ty_view x = rows(A[TY_STATE_X], n), xb = rows(A[TY_STATE_XB], n);
    struct ty_view xb2 = rows(A[TY_STATE_XB2], n), q = rows(A[TY_STATE_Q], n);
    struct ty_view k = rows(A[TY_STATE_K], n), v = rows(A[TY_STATE_V], n);
    struct ty_view att = rows(A[TY_STATE_ATT], n), hb = rows(A[TY_STATE_HB], n);
    struct ty_view hb2 = rows(A[TY_STATE_HB2], n);

    /* attention */
    if ((st = op_norm(be, xb, x, L->attn_norm, 0, hp->eps, err)) ||
        (st = op_qkv(be, q, k, v, L, xb, err)))
      return st;
    if (L->q_norm.data != NULL &&
        ((st = op_norm(be, q, q, L->q_norm, hp->head_dim, hp->eps, err)) ||
         (st = op_norm(be, k, k, L->k_norm, hp->head_dim, hp->eps, err))))
      return st;
    struct ty_op rope = { .kind = TY_OP_ROPE, .dst = q, .a = q, .pos = s->pos,
                          .ff = w->rope_freqs.data, .i0 = hp->head_dim, .i1 = hp->rope_dims,
                          .i2 = hp->rope_neox, .f0 = swa ? hp->rope_base_swa : hp->rope_base,
                          .f1 = swa ? 1.0f : hp->rope_scale };
    if ((st = ty_backend_run(be, &rope, err)) != TY_OK) return st;
    rope.dst = rope.a = k;
    if ((st = ty_backend_run(be, &rope, err)) != TY_OK) return st;
    struct ty_op store = { .kind = TY_OP_KV_STORE, .dst = s->kc[l], .a = k, .pos = s->pos };
    if ((st = ty_backend_run(be, &store, err)) != TY_OK) return st;
    store.dst = s->vc[l];
    store.a = v;
    if ((st = ty_backend_run(be, &store, err)) != TY_OK) return st;
    struct ty_op attn = { .kind = TY_OP_ATTENTION, .dst = att, .a = q, .b = s->kc[l],
                          .c = s->vc[l], .pos = s->pos, .i0 = hp->n_head, .i1 = hp->n_head_kv,
                          .i2 = hp->head_dim, .i3 = swa ? hp->sliding_window : 0,
                          .f0 = hp->attn_scale };
    if ((st = ty_backend_run(be, &attn, err)) != TY_OK) return st;
    if ((st = op_matmul(be, xb2, L->wo, att, err))) return st;
    if (L->post_attn_norm.data != NULL &&
        (st = op_norm(be, xb2, xb2, L->post_attn_norm, 0, hp->eps, err)))
      return st;
    if ((st = op_binary(be, TY_OP_ADD, x, x, xb2, 0, err))) return st;

    /* feed-forward */
    if ((st = op_norm(be, xb, x, L->ffn_norm, 0, hp->eps, err)) ||
        (st = op_ffn_glu(be, hb, hb2, L, xb, act, err)) ||
        (st = op_matmul(be, xb2, L->down, hb, err)))
      return st;
    if (L->post_ffn_norm.data != NULL &&
        (st = op_norm(be, xb2, xb2, L->post_ffn_norm, 0, hp->eps, err)))
      return st;
    if ((st = op_binary(be, TY_OP_ADD, x, x, xb2, 0, err))) return st;
  }

  if (lo >= n) return TY_OK;
  if (m->out_dev != cur) {
    if ((st = handover(m, cur, m->out_dev, n, err)) != TY_OK) return st;
    cur = m->out_dev;
  }
  be = m->dev[cur].be;
  A = m->dev[cur].act;
  for (int r = lo; r < n; r++) {
    struct ty_view xl = row(A[TY_STATE_X], r), xn = row(A[TY_STATE_XB], 0);
    if ((st = op_norm(be, xn, xl, w->output_norm, 0, hp->eps, err)) ||
        (st = op_matmul(be, A[TY_STATE_LOGITS], w->output, xn, err)) ||
        (st = ty_backend_get(be, s->logits_host, A[TY_STATE_LOGITS].data,
                             (size_t)hp->n_vocab * sizeof(float), err)))
      return st;
    if (fn != NULL && fn(ud, base + r, s->logits_host) != 0)
      return ty_err_set(err, TY_ERR_CANCELLED, "interrupted");
  }
  return TY_OK;
}


ty_status ty_forward(ty_model *m, const int32_t *tokens, int n, int from, ty_logits_fn fn,
                     void *ud, ty_err *err) {
  struct ty_state *s = &m->s;
  for (int done = 0; done < n;) {
    int chunk = n - done < m->n_batch ? n - done : m->n_batch;
    int lo = fn != NULL ? (from > done ? from - done : 0) : done + chunk == n ? chunk - 1 : chunk;
    ty_status st;
    for (int i = 0; i < chunk; i++) s->pos[i] = s->n_past + i;
    st = forward_chunk(m, tokens + done, chunk, lo < chunk ? lo : chunk, fn, ud, done, err);
    if (st != TY_OK) return st;
    s->n_past += chunk;
    done += chunk;
  }
  return TY_OK;
}
