/*
 * plan_fmt.c: the memory plan as a human table (what `tycho plan` prints and
 * a Lua plan's __tostring returns). Deterministic: the same plan, the same text.
 */
#include "plan.h"
#include "../tensor/tensor.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>


struct out {
  char *buf;
  size_t cap, len;                 /* len counts what was needed, even past cap */
};


static void put(struct out *o, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(o->len < o->cap ? o->buf + o->len : NULL, o->len < o->cap ? o->cap - o->len : 0,
                fmt, ap);
  va_end(ap);
  if (n > 0) o->len += (size_t)n;
}


/* Bytes in binary units with one decimal: "1.5 GiB", "980.2 MiB", "0 B". */
static const char *human(char *b, size_t cap, uint64_t v) {
  if (v >= (1ull << 30)) snprintf(b, cap, "%.1f GiB", (double)v / (1ull << 30));
  else if (v >= (1ull << 20)) snprintf(b, cap, "%.1f MiB", (double)v / (1ull << 20));
  else if (v >= (1ull << 10)) snprintf(b, cap, "%.1f KiB", (double)v / (1ull << 10));
  else snprintf(b, cap, "%llu B", (unsigned long long)v);
  return b;
}


/* A size as the user writes it when it is whole: "24G", "300M"; else human. */
static const char *compact(char *b, size_t cap, uint64_t v) {
  static const char units[] = "TGMK";
  for (int i = 0; i < 4; i++) {
    uint64_t m = 1ull << (10 * (4 - i));
    if (v >= m && v % m == 0) {
      snprintf(b, cap, "%llu%c", (unsigned long long)(v / m), units[i]);
      return b;
    }
  }
  return human(b, cap, v);
}


static void row(struct out *o, const struct ty_plan_dev *d, const char *name, const char *layers) {
  char w[24], kv[24], cp[24], lg[24], ov[24], us[24], tot[24], fr[24], f[32];
  uint64_t over = d->free < 0 ? (uint64_t)-d->free : 0;
  human(fr, sizeof fr, d->free < 0 ? over : (uint64_t)d->free);
  snprintf(f, sizeof f, "%s%s", d->free < 0 ? "-" : "", fr);
  put(o, "%-16s %-12s %10s %10s %10s %10s %10s %10s %10s %11s\n", name, layers,
      human(w, sizeof w, d->weights), human(kv, sizeof kv, d->kv),
      human(cp, sizeof cp, d->compute + d->host), human(lg, sizeof lg, d->logits),
      human(ov, sizeof ov, d->overhead), human(us, sizeof us, d->used),
      human(tot, sizeof tot, d->dev.total), f);
}


size_t ty_plan_format(const struct ty_plan *p, const struct ty_shape *shape, char *buf,
                      size_t cap) {
  struct out o = { buf, cap, 0 };
  const struct ty_qtype_traits *kv = ty_qtype_get(p->settings.kv_type);
  char a[24], b[24];
  if (cap > 0) buf[0] = '\0';
  put(&o, "%s: %s, %d layers, %.2fB params, %s of weights\n", shape->name, shape->hp.arch_name,
      shape->hp.n_layer, (double)shape->n_params / 1e9, human(a, sizeof a, shape->weights));
  put(&o, "num_ctx %d  num_batch %d  kv_type %s  parallel %d  num_gpu ", p->settings.num_ctx,
      p->settings.num_batch, kv != NULL ? kv->name : "?", p->settings.parallel);
  if (p->settings.num_gpu == TY_PLAN_AUTO) put(&o, "auto (%d", p->num_gpu);
  else put(&o, "%d (%d", p->settings.num_gpu, p->num_gpu);
  put(&o, " of %d layers offloaded, output counts as one)\n", p->n_layer + 1);
  if (p->settings.n_split > 0) {
    put(&o, "split");
    for (int i = 0; i < p->settings.n_split; i++) put(&o, " %g", p->settings.split[i]);
    put(&o, "\n");
  }
  put(&o, "%-16s %-12s %10s %10s %10s %10s %10s %10s %10s %11s\n", "device", "layers", "weights",
      "kv cache", "compute", "output", "overhead", "used", "total", "free");
  for (int i = 0; i < p->n_dev; i++) {
    const struct ty_plan_dev *d = &p->dev[i];
    char name[40], layers[40];
    size_t n = 0;
    if (d->dev.capped) snprintf(name, sizeof name, "%s=%s", d->dev.name,
                                compact(a, sizeof a, d->dev.total));
    else snprintf(name, sizeof name, "%s", d->dev.name);
    for (char *c = name; *c; c++) if (*c == ' ') memmove(c, c + 1, strlen(c));
    layers[0] = '\0';
    if (d->input) n += (size_t)snprintf(layers + n, sizeof layers - n, "in");
    if (d->layer_hi > d->layer_lo)
      n += (size_t)snprintf(layers + n, sizeof layers - n, "%s%d-%d", n ? "," : "", d->layer_lo,
                            d->layer_hi - 1);
    if (d->output) n += (size_t)snprintf(layers + n, sizeof layers - n, "%sout", n ? "," : "");
    if (n == 0) snprintf(layers, sizeof layers, "-");
    row(&o, d, name, layers);
  }
  row(&o, &p->total, "total", "");
  if (p->fits) {
    put(&o, "fits\n");
  } else {
    const char *sep = " ";
    put(&o, "does not fit:");
    for (int i = 0; i < p->n_dev; i++)
      if (!p->dev[i].fits) {
        put(&o, "%s%s needs %s of %s", sep, p->dev[i].dev.name, human(a, sizeof a, p->dev[i].used),
            human(b, sizeof b, p->dev[i].dev.total));
        sep = "; ";
      }
    /* each alternative fits on its own, with the other settings unchanged */
    put(&o, "\nwould fit:");
    sep = " ";
    if (p->alt.num_ctx > 0) { put(&o, "%snum_ctx %d", sep, p->alt.num_ctx); sep = " or "; }
    if (p->alt.kv_type >= 0) { put(&o, "%skv_type %s", sep, ty_qtype_get(p->alt.kv_type)->name); sep = " or "; }
    if (p->alt.num_gpu >= 0) { put(&o, "%snum_gpu %d", sep, p->alt.num_gpu); sep = " or "; }
    if (p->alt.quant != NULL) {
      put(&o, "%sthe model as %s (about %s of weights)", sep, p->alt.quant,
          human(a, sizeof a, p->alt.quant_weights));
      sep = " or ";
    }
    if (p->alt.num_ctx <= 0 && p->alt.kv_type < 0 && p->alt.num_gpu < 0 && p->alt.quant == NULL)
      put(&o, " nothing at these devices, even at the lightest quantization");
    put(&o, "\n");
  }
  return o.len;
}
