/*
 * plan.c: the memory plan: a model's shape from its GGUF header, device
 * lists, and the placement of layers on devices with every byte counted by
 * category. Compute scratch and KV cache come from the model's own size
 * table (ty_model_state_sizes), the one model.c allocates from.
 */
#include "plan.h"
#include "../backend/backend.h"
#include "../backend/device.h"
#include "../tensor/tensor.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* ================================================================
   model shape
   ================================================================ */

static uint64_t tensor_elems(const struct ty_gguf_tensor *t) {
  return (uint64_t)t->ne[0] * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
}


/* Layer number of a "blk.N." name, or -1. */
static long blk_index(const char *name) {
  char *end;
  long n;
  if (strncmp(name, "blk.", 4) != 0 || !isdigit((unsigned char)name[4])) return -1;
  n = strtol(name + 4, &end, 10);
  return *end == '.' ? n : -1;
}


ty_status ty_shape_from_gguf(const ty_gguf *g, struct ty_shape *s, ty_err *err) {
  struct ty_gguf_str nm;
  const char *path = ty_gguf_path(g), *base;
  ty_status st;

  memset(s, 0, sizeof *s);
  if ((st = ty_hparams_read(g, &s->hp, err)) != TY_OK) return st;
  if (s->hp.n_layer > TY_PLAN_MAX_LAYERS)
    return ty_err_set(err, TY_ERR_UNSUPPORTED, "%s: %d layers is more than the planner's %d",
                      path, s->hp.n_layer, TY_PLAN_MAX_LAYERS);
  base = strrchr(path, '/');
  base = base != NULL ? base + 1 : path;
  if (ty_gguf_get_str(g, "general.name", &nm) && nm.len > 0)
    snprintf(s->name, sizeof s->name, "%.*s", (int)(nm.len < 63 ? nm.len : 63), nm.ptr);
  else
    snprintf(s->name, sizeof s->name, "%s", base);
  s->file_size = ty_gguf_file_size(g);
  for (uint64_t i = 0; i < ty_gguf_n_tensors(g); i++) {
    const struct ty_gguf_tensor *t = ty_gguf_tensor_at(g, i);
    uint64_t ne = tensor_elems(t);
    long l = blk_index(t->name);
    s->n_params += ne;
    s->weights += t->nbytes;
    if (l >= 0) {
      if (l >= s->hp.n_layer)
        return ty_err_set(err, TY_ERR_FORMAT, "%s: tensor '%s' names layer %ld but block_count "
                          "is %d", path, t->name, l, s->hp.n_layer);
      s->layer_bytes[l] += t->nbytes;
      s->layer_params[l] += ne;
    } else if (strcmp(t->name, "token_embd.weight") == 0) {
      s->token_embd += t->nbytes;
      s->embd_params += ne;
    } else if (strcmp(t->name, "output.weight") == 0) {
      s->output += t->nbytes;
      s->output_params += ne;
    } else if (strcmp(t->name, "output_norm.weight") == 0) {
      s->output_norm += t->nbytes;
      s->output_params += ne;
    } else {
      s->other += t->nbytes;
      s->other_params += ne;
    }
  }
  return TY_OK;
}


ty_status ty_shape_from_file(const char *path, struct ty_shape *s, ty_err *err) {
  ty_gguf *g;
  ty_status st = ty_gguf_open_header(path, &g, err);
  if (st != TY_OK) return st;
  st = ty_shape_from_gguf(g, s, err);
  ty_gguf_close(g);
  return st;
}


/* ================================================================
   devices
   ================================================================ */

bool ty_plan_parse_size(const char *s, uint64_t *out) {
  uint64_t ip = 0, frac = 0, div = 1, mult = 1;
  const char *p = s;
  if (!isdigit((unsigned char)*p)) return false;
  for (; isdigit((unsigned char)*p); p++) {
    if (ip > (UINT64_MAX - 9) / 10) return false;
    ip = ip * 10 + (uint64_t)(*p - '0');
  }
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p)) return false;
    for (; isdigit((unsigned char)*p); p++)
      if (div < 1000000000ull) {
        frac = frac * 10 + (uint64_t)(*p - '0');
        div *= 10;
      }
  }
  switch (toupper((unsigned char)*p)) {
    case 'K': mult = 1ull << 10; p++; break;
    case 'M': mult = 1ull << 20; p++; break;
    case 'G': mult = 1ull << 30; p++; break;
    case 'T': mult = 1ull << 40; p++; break;
    default: break;
  }
  if (mult > 1 && (*p == 'i' || *p == 'I') && toupper((unsigned char)p[1]) == 'B') p += 2;
  else if (toupper((unsigned char)*p) == 'B') p++;
  if (*p != '\0' || ip > UINT64_MAX / mult) return false;
  *out = ip * mult + (uint64_t)((double)frac / (double)div * (double)mult);
  return true;
}


uint64_t ty_plan_host_ram(void) {
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}


/* Parses one entry (NUL-terminated, trimmed) into d. */
static ty_status parse_device(const char *e, struct ty_plan_device *d, ty_err *err) {
  char kind[16];
  const char *eq = strchr(e, '='), *colon;
  size_t klen = eq != NULL ? (size_t)(eq - e) : strlen(e);
  memset(d, 0, sizeof *d);
  if (klen == 0 || klen >= sizeof kind)
    return ty_err_set(err, TY_ERR_ARG, "devices: bad device '%s' (cpu, cpu=SIZE or cuda:N=SIZE)",
                      e);
  memcpy(kind, e, klen);
  kind[klen] = '\0';
  colon = strchr(kind, ':');
  if (strcmp(kind, "cpu") == 0 || strcmp(kind, "cpu:0") == 0) {
    d->kind = TY_PLAN_DEV_CPU;
    d->reserve = TY_PLAN_RESERVE_CPU;
    snprintf(d->name, sizeof d->name, "cpu");
  } else if (colon != NULL && colon - kind == 4 && strncmp(kind, "cuda", 4) == 0 &&
             isdigit((unsigned char)colon[1]) && strspn(colon + 1, "0123456789") ==
             strlen(colon + 1) && strlen(colon + 1) <= 3) {
    d->kind = TY_PLAN_DEV_CUDA;
    d->index = atoi(colon + 1);
    d->reserve = TY_PLAN_RESERVE_CUDA;
    snprintf(d->name, sizeof d->name, "cuda:%d", d->index);
  } else {
    return ty_err_set(err, TY_ERR_ARG, "devices: unknown device '%s' in '%s' (cpu, cpu=SIZE or "
                      "cuda:N=SIZE)", kind, e);
  }
  if (eq == NULL && d->kind == TY_PLAN_DEV_CUDA) {
    /* a real GPU: what it has free now (a virtual one gives its size) */
    ty_err e2;
    if (ty_cuda_device_info(d->index, NULL, 0, &d->total, NULL, &e2) != TY_OK)
      return ty_err_set(err, TY_ERR_ARG, "devices: %s; give '%s' a size (%s=24G) to plan for a "
                        "GPU this machine does not have", e2.msg, e, d->name);
    return TY_OK;
  }
  if (eq == NULL) {
    d->total = ty_plan_host_ram();
    return TY_OK;
  }
  if (!ty_plan_parse_size(eq + 1, &d->total))
    return ty_err_set(err, TY_ERR_ARG, "devices: bad size '%s' in '%s' (a number with K, M, G or "
                      "T, binary: 1G = 2^30 bytes)", eq + 1, e);
  if (d->total == 0)
    return ty_err_set(err, TY_ERR_ARG, "devices: size '%s' in '%s' must be more than 0", eq + 1, e);
  d->capped = true;
  return TY_OK;
}


/* Splits list at commas, trims each entry and hands it to fn. */
static ty_status parse_list(const char *list, const char *what, bool gpus,
                            struct ty_plan_device *devs, int cap, int *n, ty_err *err) {
  const char *p = list;
  if (list == NULL || *list == '\0')
    return ty_err_set(err, TY_ERR_ARG, "%s: empty list", what);
  for (;;) {
    const char *end = strchr(p, ',');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    char e[64];
    ty_status st;
    while (len > 0 && isspace((unsigned char)*p)) p++, len--;
    while (len > 0 && isspace((unsigned char)p[len - 1])) len--;
    if (len == 0)
      return ty_err_set(err, TY_ERR_ARG, "%s: empty entry in '%s'", what, list);
    if (len >= sizeof e)
      return ty_err_set(err, TY_ERR_ARG, "%s: entry '%.*s...' is too long", what, 20, p);
    if (*n >= cap)
      return ty_err_set(err, TY_ERR_ARG, "%s: more than %d devices in '%s'", what, cap, list);
    memcpy(e, p, len);
    e[len] = '\0';
    if (gpus) {
      char full[80];
      int k = 0;
      for (int i = 0; i < *n; i++) k += devs[i].kind == TY_PLAN_DEV_CUDA;
      snprintf(full, sizeof full, "cuda:%d=%s", k, e);
      st = parse_device(full, &devs[*n], err);
      if (st != TY_OK)
        return ty_err_set(err, TY_ERR_ARG, "gpus: bad size '%s' in '%s' (a number with K, M, G "
                          "or T, binary: 1G = 2^30 bytes)", e, list);
    } else if ((st = parse_device(e, &devs[*n], err)) != TY_OK) {
      return st;
    }
    (*n)++;
    if (end == NULL) return TY_OK;
    p = end + 1;
  }
}


ty_status ty_plan_parse_devices(const char *list, struct ty_plan_device *devs, int cap, int *n,
                                ty_err *err) {
  return parse_list(list, "devices", false, devs, cap, n, err);
}


ty_status ty_plan_parse_gpus(const char *list, struct ty_plan_device *devs, int cap, int *n,
                             ty_err *err) {
  return parse_list(list, "gpus", true, devs, cap, n, err);
}


/* ================================================================
   costs: what one device needs for a given share
   ================================================================ */

void ty_plan_settings_default(struct ty_plan_settings *s) {
  memset(s, 0, sizeof *s);
  s->num_ctx = 2048;
  s->num_batch = 512;
  s->kv_type = TY_QTYPE_F16;
  s->num_gpu = TY_PLAN_AUTO;
  s->parallel = 1;
}


/* What the placement works with: prefix sums and the size table. */
struct ctx {
  const struct ty_shape *shape;
  struct ty_state_sizes sz;
  uint64_t prefix[TY_PLAN_MAX_LAYERS + 1];  /* (n_layer + 1) layer bytes before layer l */
  uint64_t kv_layer;                       /* one layer's cache x parallel */
  uint64_t block_compute;                  /* activations of a device holding blocks */
  int n_layer;
};


/* Fills the byte fields of d for its share (layer range and flags). A tied
   output layer reads token_embd: on a device other than the input's it is
   a second copy (llama.cpp duplicates it the same way). A device that holds
   nothing is not used and needs no overhead. */
static void dev_cost(const struct ctx *c, struct ty_plan_dev *d, bool host) {
  const struct ty_shape *s = c->shape;
  int nb = d->layer_hi - d->layer_lo;
  d->weights = c->prefix[d->layer_hi] - c->prefix[d->layer_lo];
  d->kv = (uint64_t)nb * c->kv_layer;
  d->compute = 0;
  d->logits = 0;
  d->host = host ? c->sz.host : 0;
  if (d->input) d->weights += s->token_embd + s->other;
  if (d->output) {
    d->weights += s->output_norm + (s->output != 0 ? s->output : d->input ? 0 : s->token_embd);
    d->logits = c->sz.logits;
  }
  if (nb > 0)   /* a GPU also holds its backend's scratch (ty_gpu_scratch_size) */
    d->compute = c->block_compute + (d->dev.kind == TY_PLAN_DEV_CUDA ? c->sz.gpu_scratch : 0);
  else if (d->input || d->output)   /* x receives the embedding or the last hidden state; */
    d->compute = c->sz.act[TY_STATE_X].bytes +   /* the output norm writes xb */
                 (d->output ? c->sz.act[TY_STATE_XB].bytes : 0);
  d->used = d->weights + d->kv + d->compute + d->logits + d->host;
  d->overhead = d->used > 0 ? d->dev.reserve : 0;
  d->used += d->overhead;
  d->free = (int64_t)d->dev.total - (int64_t)d->used;
  d->fits = d->used <= d->dev.total;
}


/* ================================================================
   placement
   ================================================================ */

/* llama.cpp's rule for n_gpu_layers = N over the offload devices 1..n-1 of
   p->dev with cumulative proportions cum[]: blocks [n_layer - N, n_layer)
   and, when N > n_layer, the output layer; unit u of act goes to the first
   device whose cumulative share exceeds u / act. */
static void assign_split(const struct ctx *c, struct ty_plan *p, int N, const double *cum) {
  int nl = c->n_layer, n_off = p->n_dev - 1;
  int start = nl - N < 0 ? 0 : nl - N, act = N < nl + 1 ? N : nl + 1;
  for (int i = 0; i < p->n_dev; i++) {
    p->dev[i].layer_lo = p->dev[i].layer_hi = i == 0 ? 0 : nl;
    p->dev[i].input = i == 0;
    p->dev[i].output = false;
  }
  p->dev[0].layer_hi = start;
  for (int il = start; il <= nl && il - start < act; il++) {
    double x = (double)(il - start) / act;
    int j = 0;
    while (j < n_off - 1 && !(cum[j] > x)) j++;
    struct ty_plan_dev *d = &p->dev[1 + j];
    if (il == nl) {
      d->output = true;
    } else {
      if (d->layer_lo == nl) d->layer_lo = il;   /* first block of this device */
      d->layer_hi = il + 1;
    }
  }
  if (act <= nl) p->dev[0].output = true;    /* the output layer goes last */
}


/* Auto without a split: for the largest N whose units (blocks from the end,
   then the output) fill the offload devices greedily in list order, each
   to within one unit of its capacity. */
static void assign_auto(const struct ctx *c, struct ty_plan *p) {
  int nl = c->n_layer, n_off = p->n_dev - 1;
  for (int N = n_off > 0 ? nl + 1 : 0; N >= 0; N--) {
    int start, d = 1, ok = 1;
    for (int i = 0; i < p->n_dev; i++) {
      p->dev[i].layer_lo = p->dev[i].layer_hi = i == 0 ? 0 : nl;
      p->dev[i].input = i == 0;
      p->dev[i].output = false;
    }
    /* N <= n_layer: the last N blocks; N = n_layer + 1: all blocks and the output */
    start = N <= nl ? nl - N : 0;
    p->dev[0].layer_hi = start;
    p->dev[0].output = N <= nl;
    for (int u = start; u < nl + (N > nl) && ok; ) {
      struct ty_plan_dev *dv, save;
      if (d > n_off) { ok = 0; break; }
      dv = &p->dev[d];
      save = *dv;
      if (u == nl) {
        dv->output = true;
      } else {
        if (dv->layer_lo == dv->layer_hi) dv->layer_lo = u;
        dv->layer_hi = u + 1;
      }
      dev_cost(c, dv, false);
      if (dv->fits) { u++; continue; }
      *dv = save;
      d++;
    }
    if (ok) {
      p->num_gpu = N;
      return;
    }
  }
}


/* Places and costs with no alternatives; p->fits says whether all fit. */
static ty_status place(struct ctx *c, const struct ty_plan_device *devs, int n,
                       const struct ty_plan_settings *set, struct ty_plan *p, ty_err *err) {
  const struct ty_shape *s = c->shape;
  int host = -1, k = 1, nl = s->hp.n_layer;
  double cum[TY_PLAN_MAX_DEV] = { 0 }, sum = 0.0;
  ty_status st;

  memset(p, 0, sizeof *p);
  if (nl < 1 || nl > TY_PLAN_MAX_LAYERS)
    return ty_err_set(err, TY_ERR_ARG, "%s: %d layers is outside 1..%d", s->name, nl,
                      TY_PLAN_MAX_LAYERS);
  p->settings = *set;
  if (p->settings.parallel <= 0) p->settings.parallel = 1;
  if (p->settings.parallel > 256)
    return ty_err_set(err, TY_ERR_ARG, "parallel %d is out of range (1..256)", set->parallel);
  if ((st = ty_model_state_sizes(&s->hp, set->num_ctx, set->num_batch, set->kv_type, &c->sz,
                                 err)) != TY_OK)
    return st;
  p->settings.num_ctx = c->sz.n_ctx;
  p->settings.num_batch = c->sz.n_batch;
  p->settings.kv_type = c->sz.kv_type;
  p->sizes = c->sz;
  c->n_layer = p->n_layer = nl;
  c->kv_layer = c->sz.kv_layer * (uint64_t)p->settings.parallel;
  c->block_compute = c->sz.compute - c->sz.logits;
  c->prefix[0] = 0;
  p->unit_max = (s->output != 0 ? s->output : s->token_embd) + s->output_norm + c->sz.logits;
  for (int l = 0; l < nl; l++) {
    c->prefix[l + 1] = c->prefix[l] + s->layer_bytes[l];
    if (s->layer_bytes[l] + c->kv_layer > p->unit_max) p->unit_max = s->layer_bytes[l] + c->kv_layer;
  }

  /* the host (first CPU) goes first, the others keep their order */
  for (int i = 0; i < n; i++)
    if (devs[i].kind == TY_PLAN_DEV_CPU) { host = i; break; }
  if (n + (host < 0) > TY_PLAN_MAX_DEV)
    return ty_err_set(err, TY_ERR_ARG, "devices: more than %d devices", TY_PLAN_MAX_DEV);
  if (host >= 0) {
    p->dev[0].dev = devs[host];
  } else {
    memset(&p->dev[0].dev, 0, sizeof p->dev[0].dev);
    p->dev[0].dev.kind = TY_PLAN_DEV_CPU;
    p->dev[0].dev.total = ty_plan_host_ram();
    p->dev[0].dev.reserve = TY_PLAN_RESERVE_CPU;
    snprintf(p->dev[0].dev.name, sizeof p->dev[0].dev.name, "cpu");
  }
  for (int i = 0; i < n; i++)
    if (i != host) p->dev[k++].dev = devs[i];
  p->n_dev = k;

  if (set->n_split != 0 && set->n_split != k - 1)
    return ty_err_set(err, TY_ERR_ARG, "split: %d proportions for %d offload devices", set->n_split,
                      k - 1);
  for (int j = 0; j < k - 1; j++) {
    double w;
    if (set->n_split != 0) {
      w = set->split[j];
      if (!(w >= 0.0))
        return ty_err_set(err, TY_ERR_ARG, "split: proportion %d is negative", j + 1);
    } else {
      const struct ty_plan_device *d = &p->dev[1 + j].dev;
      w = d->total > d->reserve ? (double)(d->total - d->reserve) : 0.0;
    }
    sum += w;
    cum[j] = sum;
  }
  if (set->n_split != 0 && !(sum > 0.0))
    return ty_err_set(err, TY_ERR_ARG, "split: the proportions add up to 0");
  for (int j = 0; j < k - 1; j++)
    cum[j] = sum > 0.0 ? cum[j] / sum : (double)(j + 1) / (k - 1);

  if (k == 1) {
    p->num_gpu = 0;
    assign_split(c, p, 0, cum);
  } else if (set->num_gpu != TY_PLAN_AUTO) {
    int N = set->num_gpu;
    if (N < 0)
      return ty_err_set(err, TY_ERR_ARG, "num_gpu %d is out of range (0.. or auto)", N);
    p->num_gpu = N > nl + 1 ? nl + 1 : N;
    assign_split(c, p, p->num_gpu, cum);
  } else if (set->n_split != 0) {
    for (int N = nl + 1; N >= 0; N--) {
      int ok = 1;
      assign_split(c, p, N, cum);
      for (int j = 1; j < k; j++) {
        dev_cost(c, &p->dev[j], false);
        ok &= p->dev[j].fits;
      }
      p->num_gpu = N;
      if (ok) break;
    }
  } else {
    assign_auto(c, p);
  }

  p->fits = true;
  memset(&p->total, 0, sizeof p->total);
  snprintf(p->total.dev.name, sizeof p->total.dev.name, "total");
  for (int i = 0; i < p->n_dev; i++) {
    struct ty_plan_dev *d = &p->dev[i];
    if (d->layer_lo == d->layer_hi) d->layer_lo = d->layer_hi = 0;
    dev_cost(c, d, i == 0);
    p->fits &= d->fits;
    p->total.weights += d->weights;
    p->total.kv += d->kv;
    p->total.compute += d->compute;
    p->total.logits += d->logits;
    p->total.host += d->host;
    p->total.overhead += d->overhead;
    p->total.used += d->used;
    p->total.free += d->free;
    p->total.dev.total += d->dev.total;
  }
  p->total.fits = p->fits;
  p->settings.num_gpu = set->num_gpu;
  return TY_OK;
}


/* Whether shape fits with settings t (errors count as no). */
static bool fits_with(struct ctx *c, const struct ty_plan_device *devs, int n,
                      const struct ty_plan_settings *t) {
  struct ty_plan q;
  ty_err e;
  return place(c, devs, n, t, &q, &e) == TY_OK && q.fits;
}


/* Lighter quantizations, heaviest first, with their average bits per
   weight over a llama-style model (llama.cpp's quantize table, rounded):
   mixes keep a few tensors heavier, so these are estimates. */
static const struct { const char *name; double bpw; } quants[] = {
  { "Q8_0", 8.5 }, { "Q6_K", 6.56 }, { "Q5_K_M", 5.7 }, { "Q4_K_M", 4.85 }, { "Q4_0", 4.55 },
  { "Q3_K_M", 3.9 }, { "Q2_K", 3.35 },
};


/* The shape of the same model quantized at bpw bits per weight: every
   tensor's bytes from its parameter count, norms and other small tensors
   as they are. */
static void shape_requant(const struct ty_shape *s, double bpw, struct ty_shape *q) {
  *q = *s;
  q->weights = 0;
  for (int l = 0; l < s->hp.n_layer && l < TY_PLAN_MAX_LAYERS; l++) {
    q->layer_bytes[l] = (uint64_t)((double)s->layer_params[l] * bpw / 8.0);
    q->weights += q->layer_bytes[l];
  }
  q->token_embd = (uint64_t)((double)s->embd_params * bpw / 8.0);
  if (s->output != 0) q->output = (uint64_t)((double)s->output_params * bpw / 8.0);
  q->weights += q->token_embd + q->output + q->output_norm + q->other;
}


/* The heaviest lighter quantization that fits with the settings unchanged. */
static void alt_quant(struct ctx *c, const struct ty_plan_device *devs, int n, struct ty_plan *p) {
  const struct ty_shape *s = c->shape;
  double have = s->n_params > 0 ? (double)s->weights * 8.0 / (double)s->n_params : 0;
  struct ty_shape *q = malloc(sizeof *q);
  if (q == NULL) return;
  for (size_t i = 0; i < sizeof quants / sizeof quants[0]; i++) {
    if (quants[i].bpw >= have * 0.97) continue;          /* not lighter than the file */
    shape_requant(s, quants[i].bpw, q);
    c->shape = q;
    if (fits_with(c, devs, n, &p->settings)) {
      p->alt.quant = quants[i].name;
      p->alt.quant_weights = q->weights;
      break;
    }
  }
  c->shape = s;
  free(q);
}


/* What would fit instead: the largest num_ctx (binary search; fits shrink
   as num_ctx grows), a lighter kv_type, the largest num_gpu, a lighter
   quantization of the model. */
static void alternatives(struct ctx *c, const struct ty_plan_device *devs, int n,
                         struct ty_plan *p) {
  static const int lighter[] = { TY_QTYPE_F16, TY_QTYPE_Q8_0, TY_QTYPE_Q4_0 };
  struct ty_plan_settings t = p->settings;
  size_t cur = ty_qtype_row_size(p->settings.kv_type, 256);
  int lo = 0, hi = p->settings.num_ctx;          /* lo fits (0 = none), hi does not */

  p->alt.num_ctx = 0;
  p->alt.kv_type = -1;
  p->alt.num_gpu = -1;
  p->alt.quant = NULL;
  p->alt.quant_weights = 0;
  t.num_gpu = p->settings.num_gpu;
  t.num_batch = p->settings.num_batch;
  while (hi - lo > 1) {
    int mid = lo + (hi - lo) / 2;
    t.num_ctx = mid;
    if (fits_with(c, devs, n, &t)) lo = mid; else hi = mid;
  }
  p->alt.num_ctx = lo;
  t.num_ctx = p->settings.num_ctx;
  for (size_t i = 0; i < sizeof lighter / sizeof *lighter; i++) {
    if (ty_qtype_row_size(lighter[i], 256) >= cur) continue;
    t.kv_type = lighter[i];
    if (fits_with(c, devs, n, &t)) {
      p->alt.kv_type = lighter[i];
      break;
    }
  }
  t.kv_type = p->settings.kv_type;
  if (p->n_dev > 1 && p->settings.num_gpu != TY_PLAN_AUTO)
    for (int N = p->n_layer + 1; N >= 0; N--) {
      t.num_gpu = N;
      if (N != p->num_gpu && fits_with(c, devs, n, &t)) {
        p->alt.num_gpu = N;
        break;
      }
    }
  alt_quant(c, devs, n, p);
}


ty_status ty_plan_make(const struct ty_shape *shape, const struct ty_plan_device *devs, int n,
                       const struct ty_plan_settings *s, struct ty_plan *plan, ty_err *err) {
  struct ty_plan_settings def;
  struct ctx *c;
  ty_status st;
  if (s == NULL) {
    ty_plan_settings_default(&def);
    s = &def;
  }
  if (n < 0 || (n > 0 && devs == NULL))
    return ty_err_set(err, TY_ERR_ARG, "devices: bad device list");
  c = calloc(1, sizeof *c);
  if (c == NULL) return ty_err_set(err, TY_ERR_NOMEM, "out of memory");
  c->shape = shape;
  st = place(c, devs, n, s, plan, err);
  if (st == TY_OK && !plan->fits)
    alternatives(c, devs, n, plan);
  free(c);
  if (st == TY_OK) ty_err_clear(err);
  return st;
}


void ty_plan_to_params(const struct ty_plan *plan, struct ty_model_params *params) {
  int end = 0;
  params->n_devices = plan->n_dev;
  params->output_device = -1;
  for (int i = 0; i < plan->n_dev && i < TY_MODEL_MAX_DEVICES; i++) {
    const struct ty_plan_dev *d = &plan->dev[i];
    if (d->layer_hi > d->layer_lo) end = d->layer_hi;
    params->layer_end[i] = end;
    params->device_kind[i] = d->dev.kind == TY_PLAN_DEV_CUDA ? TY_DEV_CUDA : TY_DEV_CPU;
    params->device_index[i] = d->dev.index;
    if (d->output) params->output_device = i;
  }
  /* the offload devices hold the last layers: the last share ends at n_layer */
  if (plan->n_dev > 0) params->layer_end[plan->n_dev - 1] = plan->n_layer;
}
