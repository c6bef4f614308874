/* The first stage's exhaustive top k, compiled: every posting of every query term, decoded and
 * added into one accumulator, then the k best. maxscore.py's numpy code is the reference and the
 * fallback; this does the same arithmetic in the same order, so the scores are its bits (and
 * rank-bm25's get_scores'), and ties go to the lower slot as there.
 *
 * Why compiled: a question's postings are few (tens of thousands at 10k passages, millions at 1M)
 * but numpy pays a fixed cost per call, and a query made hundreds of calls. Here each posting is a
 * byte read, a division and an add.
 *
 * Built with -ffp-contract=off: a fused multiply-add would round once where numpy rounds twice.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One segment's posting arrays (postings.py's layout), as buffers held for one call. */
typedef struct {
    Py_buffer codes, gaps, tfs;
    int held;
} Segment;

static int64_t item(const Py_buffer *view, Py_ssize_t i) {
    const char *at = (const char *)view->buf + i * view->itemsize;
    switch (view->itemsize) {
    case 1: return *(const uint8_t *)at;
    case 2: return *(const uint16_t *)at;
    case 4: return *(const int32_t *)at;
    default: return *(const int64_t *)at;
    }
}

static int exception_size_ok(const Py_buffer *view) {
    return view->itemsize == 1 || view->itemsize == 2 || view->itemsize == 4 || view->itemsize == 8;
}

/* One list's postings: decoded, weighted and added, in the order they are stored. */
typedef struct {
    Py_ssize_t seg, lo, hi, g_lo, t_lo;
    int64_t base;
    double weight;
} Span;

typedef struct {
    int64_t slot;
    double score;
} Pair;

/* a ranks before b: higher score, then lower slot. */
static inline int before(const Pair *a, const Pair *b) {
    return a->score > b->score || (a->score == b->score && a->slot < b->slot);
}

/* A heap of the k best so far with the worst at its root. */
static void sift_down(Pair *heap, Py_ssize_t n, Py_ssize_t i) {
    for (;;) {
        Py_ssize_t worst = i, l = 2 * i + 1, r = l + 1;
        if (l < n && before(&heap[worst], &heap[l])) worst = l;
        if (r < n && before(&heap[worst], &heap[r])) worst = r;
        if (worst == i) return;
        Pair t = heap[i];
        heap[i] = heap[worst];
        heap[worst] = t;
        i = worst;
    }
}

static int compare_pairs(const void *a, const void *b) {
    const Pair *x = a, *y = b;
    return before(x, y) ? -1 : before(y, x) ? 1 : 0;
}

static void release(Segment *segments, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        if (segments[i].held) {
            PyBuffer_Release(&segments[i].codes);
            PyBuffer_Release(&segments[i].gaps);
            PyBuffer_Release(&segments[i].tfs);
        }
    }
    PyMem_Free(segments);
}

/* Decode and add every span; returns the number of distinct slots touched (written to touched),
 * or -1 with *error set when the index does not hold what a span says (a damaged segment). */
static Py_ssize_t accumulate(const Segment *segments, const Span *spans, Py_ssize_t n_spans, const double *norms,
                             Py_ssize_t n_slots, double k1, double *acc, uint8_t *seen, int64_t *touched,
                             const char **error) {
    const double saturated = k1 + 1;
    Py_ssize_t n_touched = 0;
    for (Py_ssize_t s = 0; s < n_spans; s++) {
        const Span *span = &spans[s];
        const Segment *seg = &segments[span->seg];
        const uint8_t *codes = seg->codes.buf;
        Py_ssize_t n_gaps = seg->gaps.len / seg->gaps.itemsize, n_tfs = seg->tfs.len / seg->tfs.itemsize;
        Py_ssize_t g = span->g_lo, t = span->t_lo;
        int64_t doc = -1;
        for (Py_ssize_t i = span->lo; i < span->hi; i++) {
            uint8_t code = codes[i];
            int64_t gap = code >> 1;
            if (gap == 0) {
                if (g >= n_gaps) {
                    *error = "a posting list runs past its gap exceptions";
                    return -1;
                }
                gap = item(&seg->gaps, g++);
            }
            doc += gap;
            double tf = 1.0;
            if (code & 1) {
                if (t >= n_tfs) {
                    *error = "a posting list runs past its tf exceptions";
                    return -1;
                }
                tf = (double)item(&seg->tfs, t++);
            }
            int64_t slot = span->base + doc;
            if (doc < 0 || slot >= n_slots) {
                *error = "a posting names a document past the index's end";
                return -1;
            }
            /* maxscore._gather's operations, in its order: weight * (tf * (k1 + 1) / (tf + norm)). */
            acc[slot] += span->weight * (tf * saturated / (tf + norms[slot]));
            // Without a branch: whether a slot is new is as good as random, and a mispredicted
            // branch costs more than the add.
            touched[n_touched] = slot;
            n_touched += !seen[slot];
            seen[slot] = 1;
        }
    }
    return n_touched;
}

static int get_array(PyObject *obj, Py_buffer *view, int writable, Py_ssize_t itemsize, Py_ssize_t length,
                     const char *name) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0) return -1;
    if (view->itemsize != itemsize || (length >= 0 && view->len / itemsize != length)) {
        PyErr_Format(PyExc_ValueError, "%s: expected a contiguous array of %zd items of %zd bytes", name, length,
                     itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(top_k_doc,
             "top_k(segments, spans, norms, allowed, k1, k, acc) -> list[tuple[int, float]]\n\n"
             "The k best allowed slots by the sum of every span's weighted contributions, best first,\n"
             "ties to the lower slot. segments: (posting_codes, gap_exceptions, tf_exceptions) of each\n"
             "segment; spans: (segment, base, lo, hi, gap_lo, tf_lo, weight) of each list, added in that\n"
             "order; norms: float64 per slot; allowed: bool per slot; acc: float64 zeros per slot,\n"
             "left zeroed.");

static PyObject *top_k(PyObject *self, PyObject *args) {
    PyObject *segment_list, *span_list, *norms_obj, *allowed_obj, *acc_obj;
    double k1;
    Py_ssize_t k;
    if (!PyArg_ParseTuple(args, "OOOOdnO", &segment_list, &span_list, &norms_obj, &allowed_obj, &k1, &k, &acc_obj))
        return NULL;
    PyObject *segment_seq = PySequence_Fast(segment_list, "segments must be a sequence");
    if (!segment_seq) return NULL;
    PyObject *span_seq = PySequence_Fast(span_list, "spans must be a sequence");
    if (!span_seq) {
        Py_DECREF(segment_seq);
        return NULL;
    }
    PyObject *result = NULL;
    Py_buffer norms = {0}, allowed = {0}, acc = {0};
    int have_norms = 0, have_allowed = 0, have_acc = 0;
    Py_ssize_t n_segments = PySequence_Fast_GET_SIZE(segment_seq), n_spans = PySequence_Fast_GET_SIZE(span_seq);
    Segment *segments = PyMem_Calloc(n_segments ? n_segments : 1, sizeof(Segment));
    Span *spans = PyMem_Malloc((n_spans ? n_spans : 1) * sizeof(Span));
    uint8_t *seen = NULL;
    int64_t *touched = NULL;
    Pair *pairs = NULL;
    if (!segments || !spans) {
        PyErr_NoMemory();
        goto done;
    }
    if (get_array(norms_obj, &norms, 0, sizeof(double), -1, "norms") < 0) goto done;
    have_norms = 1;
    Py_ssize_t n_slots = norms.len / (Py_ssize_t)sizeof(double);
    if (get_array(allowed_obj, &allowed, 0, 1, n_slots, "allowed") < 0) goto done;
    have_allowed = 1;
    if (get_array(acc_obj, &acc, 1, sizeof(double), n_slots, "acc") < 0) goto done;
    have_acc = 1;
    for (Py_ssize_t i = 0; i < n_segments; i++) {
        PyObject *arrays = PySequence_Fast_GET_ITEM(segment_seq, i);
        PyObject *codes, *gaps, *tfs;
        if (!PyArg_ParseTuple(arrays, "OOO", &codes, &gaps, &tfs)) goto done;
        Segment *seg = &segments[i];
        if (get_array(codes, &seg->codes, 0, 1, -1, "posting_codes") < 0) goto done;
        if (PyObject_GetBuffer(gaps, &seg->gaps, PyBUF_C_CONTIGUOUS) < 0) {
            PyBuffer_Release(&seg->codes);
            goto done;
        }
        if (PyObject_GetBuffer(tfs, &seg->tfs, PyBUF_C_CONTIGUOUS) < 0) {
            PyBuffer_Release(&seg->codes);
            PyBuffer_Release(&seg->gaps);
            goto done;
        }
        seg->held = 1;
        if (!exception_size_ok(&seg->gaps) || !exception_size_ok(&seg->tfs)) {
            PyErr_SetString(PyExc_ValueError, "exceptions must be integers of 1, 2, 4 or 8 bytes");
            goto done;
        }
    }
    Py_ssize_t postings = 0;
    for (Py_ssize_t i = 0; i < n_spans; i++) {
        Span *span = &spans[i];
        long long base;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(span_seq, i), "nLnnnnd", &span->seg, &base, &span->lo,
                              &span->hi, &span->g_lo, &span->t_lo, &span->weight))
            goto done;
        span->base = base;
        if (span->seg < 0 || span->seg >= n_segments || span->lo < 0 || span->hi < span->lo ||
            span->hi > segments[span->seg].codes.len || span->g_lo < 0 || span->t_lo < 0) {
            PyErr_SetString(PyExc_ValueError, "a span lies outside its segment's postings");
            goto done;
        }
        postings += span->hi - span->lo;
    }
    Py_ssize_t room = postings < n_slots ? postings : n_slots;
    seen = PyMem_Calloc(n_slots ? n_slots : 1, 1);
    touched = PyMem_Malloc((room + 1) * sizeof(int64_t));  // +1: accumulate() writes one ahead
    if (!seen || !touched) {
        PyErr_NoMemory();
        goto done;
    }
    const char *error = NULL;
    Py_ssize_t n_touched, n_best = 0;
    double *scores = acc.buf;
    const uint8_t *ok = allowed.buf;
    Py_BEGIN_ALLOW_THREADS;
    n_touched = accumulate(segments, spans, n_spans, norms.buf, n_slots, k1, scores, seen, touched, &error);
    if (n_touched >= 0 && k > 0) {
        Py_ssize_t cap = k < n_touched ? k : n_touched;
        pairs = malloc((cap ? cap : 1) * sizeof(Pair));
        if (pairs) {
            for (Py_ssize_t i = 0; i < n_touched; i++) {
                int64_t slot = touched[i];
                if (!ok[slot]) continue;
                Pair p = {slot, scores[slot]};
                if (n_best < cap) {
                    pairs[n_best++] = p;
                    if (n_best == cap)  // heapify
                        for (Py_ssize_t j = cap / 2 - 1; j >= 0; j--) sift_down(pairs, cap, j);
                } else if (before(&p, &pairs[0])) {
                    pairs[0] = p;
                    sift_down(pairs, cap, 0);
                }
            }
            qsort(pairs, n_best, sizeof(Pair), compare_pairs);
        }
    }
    // Leave the accumulator zeroed for the next query, even after an error: every slot added to is in touched.
    for (Py_ssize_t i = 0; i < (n_touched >= 0 ? n_touched : 0); i++) scores[touched[i]] = 0.0;
    Py_END_ALLOW_THREADS;
    if (n_touched < 0) {
        PyErr_SetString(PyExc_ValueError, error);
        goto done;
    }
    if (k > 0 && !pairs) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyList_New(n_best);
    if (!result) goto done;
    for (Py_ssize_t i = 0; i < n_best; i++) {
        PyObject *pair = Py_BuildValue("(Ld)", (long long)pairs[i].slot, pairs[i].score);
        if (!pair) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, i, pair);
    }
done:
    free(pairs);
    PyMem_Free(seen);
    PyMem_Free(touched);
    PyMem_Free(spans);
    if (segments) release(segments, n_segments);
    if (have_norms) PyBuffer_Release(&norms);
    if (have_allowed) PyBuffer_Release(&allowed);
    if (have_acc) PyBuffer_Release(&acc);
    Py_DECREF(segment_seq);
    Py_DECREF(span_seq);
    return result;
}

static PyMethodDef methods[] = {
    {"top_k", top_k, METH_VARARGS, top_k_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scoring", "The first stage's exhaustive top k, compiled (see maxscore.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__scoring(void) { return PyModule_Create(&module); }
