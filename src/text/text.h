/*
 * text.h: the text part's public header: tokenizers (tokenizer.h), the
 * sampler (sampler.h) and chat templates (template.h). pretok.h, regex.h,
 * unicode.h and tok_impl.h are the part's own.
 */
#ifndef TY_TEXT_H
#define TY_TEXT_H

#include "sampler.h"
#include "template.h"
#include "tokenizer.h"

#endif
