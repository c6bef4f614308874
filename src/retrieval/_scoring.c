/* wenda's compiled code, in five parts: the first stage's top k, every posting added (maxscore.py's
 * _small_top_k) or with MaxScore's pruning (its candidates()); the sentence stage's counts (text.py's
 * counts_within); where a passage's sentences end (sentences.py); the stage's best sentence
 * (rerank.py), of a question's passages in one call; and the stage's counts stored as bags at index
 * time and scored from them (bags.py). The Python code is the reference and the fallback; this does
 * the same arithmetic in the same order, so the scores are its bits (and rank-bm25's get_scores'),
 * and ties go to the lower slot as there. The tests hold each part to its reference.
 *
 * Why compiled: a question's postings are few (tens of thousands at 10k passages, millions at 1M)
 * but numpy pays a fixed cost per call, and a query made hundreds of calls; the sentence stage read
 * each of five passages piece by piece in Python. Here each posting is a byte read, a division and
 * an add, and a passage's stage a bag of a few hundred bytes read.
 *
 * Built with -ffp-contract=off: a fused multiply-add would round once where numpy rounds twice.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One segment's posting arrays (postings.py's layout) and forward lists (segment.py), as buffers held
 * for one call, and its first slot. */
typedef struct {
    Py_buffer codes, gaps, tfs, fwd_offsets, fwd_terms, fwd_tfs;
    int64_t base;
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

static int compare_slots(const void *a, const void *b) {
    int64_t x = ((const Pair *)a)->slot, y = ((const Pair *)b)->slot;
    return x < y ? -1 : x > y;
}

/* The (slot, score) pairs as a new list of tuples, or NULL with an exception set. */
static PyObject *pair_list(const Pair *pairs, Py_ssize_t n) {
    PyObject *list = PyList_New(n);
    for (Py_ssize_t i = 0; list && i < n; i++) {
        PyObject *pair = Py_BuildValue("(Ld)", (long long)pairs[i].slot, pairs[i].score);
        if (!pair) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, pair);
    }
    return list;
}

static int compare_pairs(const void *a, const void *b) {
    const Pair *x = a, *y = b;
    return before(x, y) ? -1 : before(y, x) ? 1 : 0;
}

static int exception_size_ok(const Py_buffer *view);

static void release_segments(Segment *segments, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!segments[i].held) continue;
        Py_buffer *views[6] = {&segments[i].codes,       &segments[i].gaps,      &segments[i].tfs,
                               &segments[i].fwd_offsets, &segments[i].fwd_terms, &segments[i].fwd_tfs};
        for (int v = 0; v < 6; v++)
            if (views[v]->obj) PyBuffer_Release(views[v]);
    }
    PyMem_Free(segments);
}

/* The segments maxscore.py's _forward_arrays lists: (posting_codes, gap_exceptions, tf_exceptions,
 * fwd_offsets, fwd_terms, fwd_tfs, base) each, held in segments (n of them, zeroed); -1 with an
 * exception set if one is not such arrays (release_segments frees what was held either way). */
static int hold_segments(PyObject *seq, Segment *segments, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *objs[6];
        long long base;
        Segment *seg = &segments[i];
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "OOOOOOL", &objs[0], &objs[1], &objs[2], &objs[3],
                              &objs[4], &objs[5], &base))
            return -1;
        seg->base = base;
        seg->held = 1;
        Py_buffer *views[6] = {&seg->codes, &seg->gaps, &seg->tfs, &seg->fwd_offsets, &seg->fwd_terms, &seg->fwd_tfs};
        for (int v = 0; v < 6; v++) {
            if (PyObject_GetBuffer(objs[v], views[v], PyBUF_C_CONTIGUOUS) < 0) return -1;
            if (v && !exception_size_ok(views[v])) {
                PyErr_SetString(PyExc_ValueError, "a segment's arrays must be integers of 1, 2, 4 or 8 bytes");
                return -1;
            }
        }
        if (seg->codes.itemsize != 1 || seg->fwd_offsets.len / seg->fwd_offsets.itemsize < 1 ||
            seg->fwd_terms.len / seg->fwd_terms.itemsize != seg->fwd_tfs.len / seg->fwd_tfs.itemsize) {
            PyErr_SetString(PyExc_ValueError, "a segment's arrays do not fit together");
            return -1;
        }
    }
    return 0;
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
             "ties to the lower slot. segments: top_k_pruned's (the forward lists unused); spans: (weight,\n"
             "[(segment, lo, hi, gap_lo, gap_hi, tf_lo, tf_hi), ...]) for each occurrence of a term, its\n"
             "lists added in that order; norms: float64 per slot; allowed: bool per slot; acc: float64\n"
             "zeros per slot, left zeroed.");

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
    /* spans: (weight, lists) for each occurrence of a term, each list maxscore.py's _Span (segment, lo,
     * hi, gap_lo, gap_hi, tf_lo, tf_hi): counted first, then flattened in order. */
    Py_ssize_t n_segments = PySequence_Fast_GET_SIZE(segment_seq), n_groups = PySequence_Fast_GET_SIZE(span_seq);
    Py_ssize_t n_spans = 0;
    for (Py_ssize_t g = 0; g < n_groups; g++) {
        PyObject *group = PySequence_Fast_GET_ITEM(span_seq, g);
        if (!PyTuple_Check(group) || PyTuple_GET_SIZE(group) != 2 || !PyList_Check(PyTuple_GET_ITEM(group, 1))) {
            PyErr_SetString(PyExc_TypeError, "each span group must be (weight, list of lists)");
            Py_DECREF(segment_seq);
            Py_DECREF(span_seq);
            return NULL;
        }
        n_spans += PyList_GET_SIZE(PyTuple_GET_ITEM(group, 1));
    }
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
    if (hold_segments(segment_seq, segments, n_segments) < 0) goto done;
    Py_ssize_t postings = 0;
    for (Py_ssize_t g = 0, i = 0; g < n_groups; g++) {
        PyObject *group = PySequence_Fast_GET_ITEM(span_seq, g), *lists = PyTuple_GET_ITEM(group, 1);
        double weight = PyFloat_AsDouble(PyTuple_GET_ITEM(group, 0));
        if (weight == -1.0 && PyErr_Occurred()) goto done;
        for (Py_ssize_t l = 0; l < PyList_GET_SIZE(lists); l++, i++) {
            Span *span = &spans[i];
            Py_ssize_t g_hi, t_hi;  // maxscore.py's _Span holds them; the exceptions are read as needed
            if (!PyArg_ParseTuple(PyList_GET_ITEM(lists, l), "nnnnnnn", &span->seg, &span->lo, &span->hi, &span->g_lo,
                                  &g_hi, &span->t_lo, &t_hi))
                goto done;
            span->weight = weight;
            if (span->seg < 0 || span->seg >= n_segments || span->lo < 0 || span->hi < span->lo ||
                span->hi > segments[span->seg].codes.len || span->g_lo < 0 || span->t_lo < 0) {
                PyErr_SetString(PyExc_ValueError, "a span lies outside its segment's postings");
                goto done;
            }
            span->base = segments[span->seg].base;
            postings += span->hi - span->lo;
        }
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
    result = pair_list(pairs, n_best);
done:
    free(pairs);
    PyMem_Free(seen);
    PyMem_Free(touched);
    PyMem_Free(spans);
    if (segments) release_segments(segments, n_segments);
    if (have_norms) PyBuffer_Release(&norms);
    if (have_allowed) PyBuffer_Release(&allowed);
    if (have_acc) PyBuffer_Release(&acc);
    Py_DECREF(segment_seq);
    Py_DECREF(span_seq);
    return result;
}

/* -- the first stage with MaxScore's pruning --------------------------------------------------- */

/* Relative margin on every pruning decision (maxscore.py's _SAFETY): summing in another order moves
 * a score by ~1e-15. */
#define SAFETY 1e-9
/* Probing stops once no more than this many documents can still reach the top k; those are scored
 * exactly from their forward lists. Each costs a page of forward list or two: at 1M in a 1 GB memory
 * cgroup, 64 left the cold answer 1.5-1.7x the unconstrained one, 32 1.3x, for 0.3 ms more probing
 * (maxscore.py's _FORWARD_MAX is the same 32). */
#define MAX_CANDIDATES 32

typedef struct {
    Py_ssize_t seg, term_id, lo, hi, g_lo, t_lo;
} List;

typedef struct {
    double weight, bound;
    Py_ssize_t first, count;  // its lists: lists[first : first + count]
    Py_ssize_t postings;
} Term;

/* v into a min-heap of at most k values (the k largest so far, the least at the root). */
static void keep_largest(double *heap, Py_ssize_t *n, Py_ssize_t k, double v) {
    if (*n < k) {  // sift up
        Py_ssize_t at = (*n)++;
        while (at && heap[(at - 1) / 2] > v) {
            heap[at] = heap[(at - 1) / 2];
            at = (at - 1) / 2;
        }
        heap[at] = v;
    } else if (v > heap[0]) {  // replace the root and sift v down
        Py_ssize_t at = 0;
        for (;;) {
            Py_ssize_t l = 2 * at + 1, r = l + 1, least = at;
            double lv = l < k ? heap[l] : INFINITY, rv = r < k ? heap[r] : INFINITY;
            if (lv < v && lv <= rv) least = l;
            else if (rv < v) least = r;
            if (least == at) break;
            heap[at] = heap[least];
            at = least;
        }
        heap[at] = v;
    }
}

/* The k-th largest acc over the allowed touched slots (0 if there are fewer than k), with a heap. */
static double kth_largest(const double *acc, const uint8_t *ok, const int64_t *touched, Py_ssize_t n_touched,
                          Py_ssize_t k, double *heap, Py_ssize_t *found) {
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < n_touched; i++)
        if (ok[touched[i]]) keep_largest(heap, &n, k, acc[touched[i]]);
    *found = n;
    return n < k ? 0.0 : heap[0];
}

PyDoc_STRVAR(top_k_pruned_doc,
             "top_k_pruned(segments, terms, lists, occurrences, norms, allowed, k1, k, acc, first_check)\n"
             "    -> list[tuple[int, float]]\n\n"
             "top_k's result, found with MaxScore: terms are added highest bound first until no more than a\n"
             "few documents can reach the top k, and those are scored exactly from their forward lists, each\n"
             "occurrence of a term with its idf in query order (get_scores' bits). segments: (posting_codes,\n"
             "gap_exceptions, tf_exceptions, fwd_offsets, fwd_terms, fwd_tfs, base) each; terms: (weight,\n"
             "bound, first list, number of lists) each, highest bound first, bounds already with their margin;\n"
             "lists: (segment, term id, lo, hi, gap_lo, tf_lo) each; occurrences: (term, idf) in query order;\n"
             "first_check: postings added before the first look at the threshold (then at every doubling).");

static PyObject *top_k_pruned(PyObject *self, PyObject *args) {
    PyObject *segment_list, *term_list, *list_list, *occurrence_list, *norms_obj, *allowed_obj, *acc_obj;
    double k1;
    Py_ssize_t k, first_check;
    if (!PyArg_ParseTuple(args, "OOOOOOdnOn", &segment_list, &term_list, &list_list, &occurrence_list, &norms_obj,
                          &allowed_obj, &k1, &k, &acc_obj, &first_check))
        return NULL;
    PyObject *seqs[4] = {NULL, NULL, NULL, NULL};
    PyObject *inputs[4] = {segment_list, term_list, list_list, occurrence_list};
    for (int i = 0; i < 4; i++) {
        seqs[i] = PySequence_Fast(inputs[i], "segments, terms, lists and occurrences must be sequences");
        if (!seqs[i]) {
            for (int j = 0; j < i; j++) Py_DECREF(seqs[j]);
            return NULL;
        }
    }
    Py_ssize_t n_segments = PySequence_Fast_GET_SIZE(seqs[0]), n_terms = PySequence_Fast_GET_SIZE(seqs[1]);
    Py_ssize_t n_lists = PySequence_Fast_GET_SIZE(seqs[2]), n_occurrences = PySequence_Fast_GET_SIZE(seqs[3]);
    PyObject *result = NULL;
    Py_buffer norms = {0}, allowed = {0}, acc = {0};
    Segment *segments = PyMem_Calloc(n_segments + 1, sizeof(Segment));
    Term *terms = PyMem_Calloc(n_terms + 1, sizeof(Term));
    List *lists = PyMem_Calloc(n_lists + 1, sizeof(List));
    Py_ssize_t *occ_term = PyMem_Calloc(n_occurrences + 1, sizeof(Py_ssize_t));
    double *occ_idf = PyMem_Calloc(n_occurrences + 1, sizeof(double));
    double *rest = PyMem_Calloc(n_terms + 1, sizeof(double));
    uint8_t *seen = NULL;
    int64_t *touched = NULL, *candidates = NULL, *table = NULL;
    double *heap = NULL, *tf_row = NULL;
    Pair *pairs = NULL;
    if (!segments || !terms || !lists || !occ_term || !occ_idf || !rest) {
        PyErr_NoMemory();
        goto done;
    }
    if (get_array(norms_obj, &norms, 0, sizeof(double), -1, "norms") < 0) goto done;
    Py_ssize_t n_slots = norms.len / (Py_ssize_t)sizeof(double);
    if (get_array(allowed_obj, &allowed, 0, 1, n_slots, "allowed") < 0) goto done;
    if (get_array(acc_obj, &acc, 1, sizeof(double), n_slots, "acc") < 0) goto done;
    if (hold_segments(seqs[0], segments, n_segments) < 0) goto done;
    for (Py_ssize_t i = 0; i < n_lists; i++) {
        List *l = &lists[i];
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seqs[2], i), "nnnnnn", &l->seg, &l->term_id, &l->lo, &l->hi,
                              &l->g_lo, &l->t_lo))
            goto done;
        if (l->seg < 0 || l->seg >= n_segments || l->lo < 0 || l->hi < l->lo || l->hi > segments[l->seg].codes.len ||
            l->g_lo < 0 || l->t_lo < 0 || l->term_id < 0) {
            PyErr_SetString(PyExc_ValueError, "a span lies outside its segment's postings");
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < n_terms; i++) {
        Term *t = &terms[i];
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seqs[1], i), "ddnn", &t->weight, &t->bound, &t->first,
                              &t->count))
            goto done;
        if (t->first < 0 || t->count < 0 || t->first + t->count > n_lists) {
            PyErr_SetString(PyExc_ValueError, "a term's lists are out of range");
            goto done;
        }
        for (Py_ssize_t l = t->first; l < t->first + t->count; l++) t->postings += lists[l].hi - lists[l].lo;
    }
    for (Py_ssize_t i = 0; i < n_occurrences; i++) {
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seqs[3], i), "nd", &occ_term[i], &occ_idf[i])) goto done;
        if (occ_term[i] < 0 || occ_term[i] >= n_terms) {
            PyErr_SetString(PyExc_ValueError, "an occurrence's term is out of range");
            goto done;
        }
    }
    for (Py_ssize_t j = n_terms - 1; j >= 0; j--) rest[j] = rest[j + 1] + terms[j].bound;
    Py_ssize_t postings = 0;
    for (Py_ssize_t j = 0; j < n_terms; j++) postings += terms[j].postings;
    Py_ssize_t room = postings < n_slots ? postings : n_slots;
    Py_ssize_t table_size = 16;
    while (table_size < 4 * n_terms) table_size *= 2;
    seen = PyMem_Calloc(n_slots + 1, 1);
    touched = PyMem_Malloc((room + 1) * sizeof(int64_t));
    candidates = PyMem_Malloc((room + 1) * sizeof(int64_t));
    heap = PyMem_Malloc((k + 1) * sizeof(double));
    tf_row = PyMem_Malloc((n_terms + 1) * sizeof(double));
    table = PyMem_Malloc(2 * table_size * sizeof(int64_t));
    pairs = PyMem_Malloc((room + 1) * sizeof(Pair));
    if (!seen || !touched || !candidates || !heap || !tf_row || !table || !pairs) {
        PyErr_NoMemory();
        goto done;
    }
    const char *error = NULL;
    double *scores = acc.buf;
    const double *norm = norms.buf;
    const uint8_t *ok = allowed.buf;
    const double saturated = k1 + 1;
    Py_ssize_t n_touched = 0, n_candidates = 0, n_best = 0;
    Py_BEGIN_ALLOW_THREADS;
    /* Terms highest bound first, until at most MAX_CANDIDATES documents can still reach the top k. */
    Py_ssize_t j = 0, since = 0, next_check = first_check;
    while (j < n_terms && k > 0) {
        Term *t = &terms[j];
        Span spans[1];
        for (Py_ssize_t l = t->first; l < t->first + t->count && !error; l++) {
            const List *list = &lists[l];
            spans[0] = (Span){list->seg, list->lo, list->hi, list->g_lo, list->t_lo, segments[list->seg].base, t->weight};
            Py_ssize_t added =
                accumulate(segments, spans, 1, norm, n_slots, k1, scores, seen, touched + n_touched, &error);
            if (added >= 0) n_touched += added;
        }
        if (error) break;
        since += t->postings;
        j++;
        if (since < next_check && j < n_terms) continue;
        next_check = 2 * since;
        Py_ssize_t found;
        double theta = kth_largest(scores, ok, touched, n_touched, k, heap, &found);
        if (found < k && j < n_terms) continue;
        double floor = theta * (1 - SAFETY);
        if (j < n_terms && !(floor > rest[j])) continue;  // a document not seen yet could still make it
        // No document not seen yet can reach the top k: the survivors, by slot, with their partial scores.
        n_candidates = 0;
        for (Py_ssize_t i = 0; i < n_touched; i++) {
            int64_t slot = touched[i];
            if (ok[slot] && scores[slot] + rest[j] >= floor) pairs[n_candidates++] = (Pair){slot, scores[slot]};
        }
        qsort(pairs, n_candidates, sizeof(Pair), compare_slots);
        break;
    }
    for (Py_ssize_t i = 0; i < n_touched; i++) scores[touched[i]] = 0.0, seen[touched[i]] = 0;
    /* The remaining terms' lists are only probed for the survivors: decoded in order and merged with
     * them (no scattered writes), the survivors pruned as the bound of what is left falls, and a list
     * left as soon as it passes the last survivor. */
    while (j < n_terms && n_candidates > MAX_CANDIDATES && !error) {
        Term *t = &terms[j];
        Py_ssize_t q = 0;
        for (Py_ssize_t l = t->first; l < t->first + t->count && q < n_candidates && !error; l++) {
            const List *list = &lists[l];
            const Segment *seg = &segments[list->seg];
            const uint8_t *codes = seg->codes.buf;
            Py_ssize_t n_gaps = seg->gaps.len / seg->gaps.itemsize, n_tfs = seg->tfs.len / seg->tfs.itemsize;
            Py_ssize_t g = list->g_lo, tfi = list->t_lo;
            int64_t doc = -1;
            for (Py_ssize_t i = list->lo; i < list->hi && q < n_candidates; i++) {
                uint8_t code = codes[i];
                int64_t gap = code >> 1;
                if (gap == 0) {
                    if (g >= n_gaps) {
                        error = "a posting list runs past its gap exceptions";
                        break;
                    }
                    gap = item(&seg->gaps, g++);
                }
                doc += gap;
                Py_ssize_t tf_at = -1;
                if (code & 1) {
                    if (tfi >= n_tfs) {
                        error = "a posting list runs past its tf exceptions";
                        break;
                    }
                    tf_at = tfi++;
                }
                int64_t slot = seg->base + doc;
                while (q < n_candidates && pairs[q].slot < slot) q++;
                if (q < n_candidates && pairs[q].slot == slot) {
                    double tf = tf_at < 0 ? 1.0 : (double)item(&seg->tfs, tf_at);
                    pairs[q].score += t->weight * (tf * saturated / (tf + norm[slot]));
                }
            }
        }
        j++;
        if (error) break;
        // A threshold from the survivors' partial scores, and those that can no longer reach it dropped.
        Py_ssize_t found = 0;
        for (Py_ssize_t i = 0; i < n_candidates; i++) keep_largest(heap, &found, k, pairs[i].score);
        if (found < k) continue;
        double floor = heap[0] * (1 - SAFETY);
        Py_ssize_t kept = 0;
        for (Py_ssize_t i = 0; i < n_candidates; i++)
            if (pairs[i].score + rest[j] >= floor) pairs[kept++] = pairs[i];
        n_candidates = kept;
    }
    for (Py_ssize_t i = 0; i < n_candidates; i++) candidates[i] = pairs[i].slot;
    /* The candidates' exact scores: each term's tf from the forward list, then the sum in query order. */
    Py_ssize_t last_seg = -1;
    for (Py_ssize_t c = 0; c < n_candidates && !error; c++) {
        int64_t slot = candidates[c];
        Py_ssize_t s = n_segments - 1;
        while (s > 0 && segments[s].base > slot) s--;
        Segment *seg = &segments[s];
        if (s != last_seg) {  // the segment's term ids -> the query's terms, in an open-addressed table
            for (Py_ssize_t i = 0; i < table_size; i++) table[2 * i] = -1;
            for (Py_ssize_t q = 0; q < n_terms; q++)
                for (Py_ssize_t l = terms[q].first; l < terms[q].first + terms[q].count; l++) {
                    if (lists[l].seg != s) continue;
                    Py_ssize_t h = (Py_ssize_t)(((uint64_t)lists[l].term_id * 2654435761u) & (uint64_t)(table_size - 1));
                    while (table[2 * h] != -1) h = (h + 1) & (table_size - 1);
                    table[2 * h] = lists[l].term_id;
                    table[2 * h + 1] = q;
                }
            last_seg = s;
        }
        int64_t doc = slot - seg->base;
        Py_ssize_t n_docs = seg->fwd_offsets.len / seg->fwd_offsets.itemsize - 1;
        Py_ssize_t n_entries = seg->fwd_terms.len / seg->fwd_terms.itemsize;
        if (doc < 0 || doc >= n_docs) {
            error = "a candidate lies outside its segment";
            break;
        }
        Py_ssize_t lo = item(&seg->fwd_offsets, doc), hi = item(&seg->fwd_offsets, doc + 1);
        if (lo < 0 || hi < lo || hi > n_entries) {
            error = "a forward list lies outside its segment";
            break;
        }
        for (Py_ssize_t q = 0; q < n_terms; q++) tf_row[q] = 0.0;
        for (Py_ssize_t e = lo; e < hi; e++) {
            int64_t id = item(&seg->fwd_terms, e);
            Py_ssize_t h = (Py_ssize_t)(((uint64_t)id * 2654435761u) & (uint64_t)(table_size - 1));
            while (table[2 * h] != -1 && table[2 * h] != id) h = (h + 1) & (table_size - 1);
            if (table[2 * h] == id) tf_row[table[2 * h + 1]] = (double)item(&seg->fwd_tfs, e);
        }
        double score = 0.0, nm = norm[slot];
        for (Py_ssize_t o = 0; o < n_occurrences; o++) {
            double tf = tf_row[occ_term[o]];
            score += occ_idf[o] * (tf * saturated / (tf + nm));
        }
        pairs[n_best++] = (Pair){slot, score};
    }
    if (!error) {
        qsort(pairs, n_best, sizeof(Pair), compare_pairs);
        if (n_best > k) n_best = k;
    }
    Py_END_ALLOW_THREADS;
    if (error) {
        PyErr_SetString(PyExc_ValueError, error);
        goto done;
    }
    result = pair_list(pairs, n_best);
done:
    PyMem_Free(seen);
    PyMem_Free(touched);
    PyMem_Free(candidates);
    PyMem_Free(heap);
    PyMem_Free(tf_row);
    PyMem_Free(table);
    PyMem_Free(pairs);
    PyMem_Free(rest);
    PyMem_Free(occ_idf);
    PyMem_Free(occ_term);
    PyMem_Free(lists);
    PyMem_Free(terms);
    if (segments) release_segments(segments, n_segments);
    if (norms.obj) PyBuffer_Release(&norms);
    if (allowed.obj) PyBuffer_Release(&allowed);
    if (acc.obj) PyBuffer_Release(&acc);
    for (int i = 0; i < 4; i++) Py_DECREF(seqs[i]);
    return result;
}

/* -- the sentence stage's counts ------------------------------------------------------------- */

/* A character's flags (text.py's _stop_ngram_keys): a stop word alone, the first of a stop word of two. */
#define STOP_CHAR 1
#define STOP_PAIR_FIRST 2

/* text.py's _CJK_RUN: the characters that make unigrams and bigrams (all in the BMP). */
static inline int is_cjk(Py_UCS4 c) {
    return (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xf900 && c <= 0xfaff);
}

/* The first position of key in a sorted array, or -1. */
static Py_ssize_t find_u64(const uint64_t *keys, Py_ssize_t n, uint64_t key) {
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (keys[mid] < key) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && keys[lo] == key ? lo : -1;
}

typedef struct {
    Py_buffer view;
    int held;
} Held;

static int hold(PyObject *obj, Held *h, Py_ssize_t itemsize, const char *name) {
    if (PyObject_GetBuffer(obj, &h->view, PyBUF_C_CONTIGUOUS) < 0) return -1;
    h->held = 1;
    if (h->view.len % itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: not an array of %zd-byte items", name, itemsize);
        return -1;
    }
    return 0;
}

/* A wanted term as the counts count it. */
typedef struct {
    PyObject *word;  // the piece it counts (a new reference), for a word or a Latin word's n-gram
    Py_ssize_t term;
} Target;

typedef struct {
    uint64_t key;  // a code point, or (first << 32 | second)
    Py_ssize_t term;
} Gram;

static int compare_grams(const void *a, const void *b) {
    uint64_t x = ((const Gram *)a)->key, y = ((const Gram *)b)->key;
    return x < y ? -1 : x > y;
}

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Beyond this many words to count, each piece is looked up in a dict rather than compared with each
 * (an index build counts every term of a passage). */
#define MANY_TARGETS 8

/* What counting a question's terms needs, worked out once per question: the stop words' flags and
 * pairs, and each term sorted into a piece to compare (targets) or an n-gram key (grams). */
typedef struct {
    Held held[2];
    const uint8_t *flags;
    const uint64_t *stop_pairs;
    Py_ssize_t n_stop_pairs;
    PyObject *kept;   // piece -> whether it is an index word (borrowed)
    PyObject *terms;  // the terms, a list (a new reference)
    PyObject *target_words;  // with many targets: piece -> tuple of its terms' places (a new reference), else NULL
    Py_ssize_t n_terms, n_targets, n_grams, n_firsts;
    Target *targets;
    Gram *grams;
    uint64_t *firsts, *gram_keys;
    /* A bit per code point modulo 4096: set for the first characters of the targets (first_bits)
     * and of the n-grams (gram_bits). Most characters' bit is clear, which spares a binary search. */
    uint64_t first_bits[64], gram_bits[64];
} Wanted;

static inline void set_bit(uint64_t *bits, Py_UCS4 c) { bits[(c >> 6) & 63] |= (uint64_t)1 << (c & 63); }

static inline int has_bit(const uint64_t *bits, Py_UCS4 c) { return (bits[(c >> 6) & 63] >> (c & 63)) & 1; }

static void wanted_free(Wanted *w) {
    for (int i = 0; i < 2; i++)
        if (w->held[i].held) PyBuffer_Release(&w->held[i].view);
    for (Py_ssize_t i = 0; i < w->n_targets; i++) Py_DECREF(w->targets[i].word);
    Py_XDECREF(w->terms);
    Py_XDECREF(w->target_words);
    PyMem_Free(w->targets);
    PyMem_Free(w->grams);
    PyMem_Free(w->firsts);
    PyMem_Free(w->gram_keys);
}

/* w from the terms (any iterable of str), kept, flags and stop_pairs; -1 with an exception set
 * if they are not what they should be (w is to be freed either way). */
static int wanted_init(Wanted *w, PyObject *wanted, PyObject *kept, PyObject *flags_obj, PyObject *stop_pairs_obj) {
    memset(w, 0, sizeof(*w));
    w->kept = kept;
    if (hold(flags_obj, &w->held[0], 1, "flags") < 0 || hold(stop_pairs_obj, &w->held[1], 8, "stop_pairs") < 0)
        return -1;
    w->flags = w->held[0].view.buf;
    w->stop_pairs = w->held[1].view.buf;
    w->n_stop_pairs = w->held[1].view.len / 8;
    if (w->held[0].view.len != 0x10000) {
        PyErr_SetString(PyExc_ValueError, "flags must have one byte for each character of the Basic Multilingual Plane");
        return -1;
    }
    /* The wanted terms as counts_within counts them: a word is a kept piece equal to it; a UNIGRAM
     * or BIGRAM term of a word without CJK is that word's piece too (a Latin or digit word is in both
     * n-gram namespaces); one of a CJK character or two, not a stop word, every place they stand. */
    w->terms = PySequence_List(wanted);
    if (!w->terms) return -1;
    Py_ssize_t n_terms = w->n_terms = PyList_GET_SIZE(w->terms);
    w->targets = PyMem_Calloc(n_terms + 1, sizeof(Target));
    w->grams = PyMem_Calloc(n_terms + 1, sizeof(Gram));
    w->firsts = PyMem_Calloc(n_terms + 1, sizeof(uint64_t));
    w->gram_keys = PyMem_Calloc(n_terms + 1, sizeof(uint64_t));
    if (!w->targets || !w->grams || !w->firsts || !w->gram_keys) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t t = 0; t < n_terms; t++) {
        PyObject *term = PyList_GET_ITEM(w->terms, t);
        if (!PyUnicode_Check(term)) {
            PyErr_SetString(PyExc_TypeError, "wanted terms must be strings");
            return -1;
        }
        Py_ssize_t size = PyUnicode_GET_LENGTH(term);
        int tkind = PyUnicode_KIND(term);
        const void *tdata = PyUnicode_DATA(term);
        Py_UCS4 marker = size >= 2 ? PyUnicode_READ(tkind, tdata, 0) : 0;
        Py_UCS4 which = size >= 2 ? PyUnicode_READ(tkind, tdata, 1) : 0;
        if (marker == 1 && (which == '1' || which == '2')) {  // text.py's UNIGRAM or BIGRAM
            Py_ssize_t rest = size - 2, cjk = 0;
            for (Py_ssize_t i = 2; i < size; i++) cjk += is_cjk(PyUnicode_READ(tkind, tdata, i));
            if (!cjk) {
                PyObject *word = PyUnicode_Substring(term, 2, size);
                if (!word) return -1;
                w->targets[w->n_targets++] = (Target){word, t};
            } else if (which == '1' && rest == 1 && cjk == 1) {
                Py_UCS4 c = PyUnicode_READ(tkind, tdata, 2);
                if (!(w->flags[c] & STOP_CHAR)) w->grams[w->n_grams++] = (Gram){c, t};
            } else if (which == '2' && rest == 2 && cjk == 2) {
                uint64_t key = (uint64_t)PyUnicode_READ(tkind, tdata, 2) << 32 | PyUnicode_READ(tkind, tdata, 3);
                if (find_u64(w->stop_pairs, w->n_stop_pairs, key) < 0) w->grams[w->n_grams++] = (Gram){key, t};
            }
        } else {
            Py_INCREF(term);
            w->targets[w->n_targets++] = (Target){term, t};
        }
    }
    for (Py_ssize_t i = 0; i < w->n_targets; i++)
        if (PyUnicode_GET_LENGTH(w->targets[i].word)) {
            Py_UCS4 first = PyUnicode_READ_CHAR(w->targets[i].word, 0);
            w->firsts[w->n_firsts++] = first;
            set_bit(w->first_bits, first);
        }
    for (Py_ssize_t i = 0; i < w->n_grams; i++)
        set_bit(w->gram_bits, (Py_UCS4)(w->grams[i].key >= ((uint64_t)1 << 32) ? w->grams[i].key >> 32 : w->grams[i].key));
    qsort(w->firsts, w->n_firsts, sizeof(uint64_t), compare_u64);
    if (w->n_targets > MANY_TARGETS) {  // a piece is then looked up, not compared with each target
        w->target_words = PyDict_New();
        if (!w->target_words) return -1;
        for (Py_ssize_t i = 0; i < w->n_targets; i++) {
            PyObject *before = PyDict_GetItemWithError(w->target_words, w->targets[i].word);
            if (!before && PyErr_Occurred()) return -1;
            Py_ssize_t n = before ? PyTuple_GET_SIZE(before) : 0;
            PyObject *places = PyTuple_New(n + 1), *place = PyLong_FromSsize_t(w->targets[i].term);
            if (!places || !place) {
                Py_XDECREF(places);
                Py_XDECREF(place);
                return -1;
            }
            for (Py_ssize_t j = 0; j < n; j++) PyTuple_SET_ITEM(places, j, Py_NewRef(PyTuple_GET_ITEM(before, j)));
            PyTuple_SET_ITEM(places, n, place);
            int failed = PyDict_SetItem(w->target_words, w->targets[i].word, places);
            Py_DECREF(places);
            if (failed < 0) return -1;
        }
    }
    qsort(w->grams, w->n_grams, sizeof(Gram), compare_grams);  // unigram keys < 2^32 <= bigram keys: one array
    for (Py_ssize_t i = 0; i < w->n_grams; i++) w->gram_keys[i] = w->grams[i].key;
    return 0;
}

/* A dict of each of w's terms -> its place among them (a new reference), or NULL with an exception set. */
static PyObject *places_of(const Wanted *w) {
    PyObject *places = PyDict_New();
    for (Py_ssize_t t = 0; places && t < w->n_terms; t++) {
        PyObject *place = PyLong_FromSsize_t(t);
        if (!place || PyDict_SetItem(places, PyList_GET_ITEM(w->terms, t), place) < 0) Py_CLEAR(places);
        Py_XDECREF(place);
    }
    return places;
}

/* The title's count of each term (counts, n_terms of them, zeroed here) from its tokens, by places
 * (places_of); its number of tokens, or -1 with an exception set. A token that is none of the terms
 * is an error if every one must be (a passage's title among its own terms), else passed over. */
static Py_ssize_t count_title(PyObject *places, PyObject *title_tokens, Py_ssize_t n_terms, long *counts,
                              int every_one) {
    PyObject *tokens = PySequence_Fast(title_tokens, "title_tokens must be a sequence");
    if (!tokens) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(tokens);
    memset(counts, 0, (n_terms + 1) * sizeof(long));
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *place = PyDict_GetItemWithError(places, PySequence_Fast_GET_ITEM(tokens, i));
        if (place) {
            counts[PyLong_AsSsize_t(place)] += 1;
            continue;
        }
        if (!PyErr_Occurred() && every_one) PyErr_SetString(PyExc_ValueError, "a title token is not among the terms");
        if (PyErr_Occurred()) {
            Py_DECREF(tokens);
            return -1;
        }
    }
    Py_DECREF(tokens);
    return n;
}

/* For each of the n_spans spans (bounds: lo, hi pairs, checked sorted and within the text), how often
 * it holds each wanted term (counts, n_spans rows of n_terms, zeroed by the caller) and its number of
 * tokens (lengths, zeroed), from the cut of a text whose normalised form has the same offsets.
 * 0 when done, 1 when the cut does not fit the text, -1 with an exception set. */
static int count_spans(const Wanted *w, PyObject *text, const unsigned char *piece_lengths, Py_ssize_t n_pieces,
                       const Py_ssize_t *bounds, Py_ssize_t n_spans, long *counts, long *lengths) {
    const uint8_t *flags = w->flags;
    Py_ssize_t length = PyUnicode_GET_LENGTH(text), n_terms = w->n_terms;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    /* The pieces of the cut: each kept one is a word of the sentence it starts in (as text.py's
     * _read_within assigns them), a Latin or digit one also two n-grams. */
    Py_ssize_t start = 0, j = 0;
    for (Py_ssize_t p = 0; p < n_pieces; p++) {
        Py_ssize_t end = start + piece_lengths[p];
        if (end > length) return 1;  // the cut is of another text
        while (j < n_spans && bounds[2 * j + 1] <= start) j++;
        if (j < n_spans && bounds[2 * j] <= start) {
            /* Most pieces are one or two CJK characters or a mark: whether they are index words is
             * told here (a letter, and not a stop word; a mark is never one), and only a piece that
             * may be one of the question's words is made into a string and looked up. */
            Py_ssize_t size = end - start;
            Py_UCS4 c1 = size ? PyUnicode_READ(kind, data, start) : 0;
            Py_UCS4 c2 = size >= 2 ? PyUnicode_READ(kind, data, start + 1) : 0;
            int known = -1;  // the piece's verdict, if told here
            if (size == 1 && is_cjk(c1)) {
                known = Py_UNICODE_ISALPHA(c1) && !(flags[c1] & STOP_CHAR);
            } else if (size == 1 && !Py_UNICODE_ISALPHA(c1) && !Py_UNICODE_ISNUMERIC(c1)) {
                known = 0;
            } else if (size == 2 && is_cjk(c1) && is_cjk(c2)) {
                int letter = Py_UNICODE_ISALPHA(c1) || Py_UNICODE_ISALPHA(c2);
                int stop = (flags[c1] & STOP_PAIR_FIRST) &&
                           find_u64(w->stop_pairs, w->n_stop_pairs, (uint64_t)c1 << 32 | c2) >= 0;
                known = letter && !stop;
            }
            int may_be_wanted = size && has_bit(w->first_bits, c1) && find_u64(w->firsts, w->n_firsts, c1) >= 0;
            if (known == 0 || (known == 1 && !may_be_wanted)) {
                lengths[j] += known;  // a CJK piece: a word, and not a Latin one
                start = end;
                continue;
            }
            PyObject *piece = PyUnicode_Substring(text, start, end);
            if (!piece) return -1;
            int is_kept = known;
            if (known < 0) {
                PyObject *verdict = PyObject_GetItem(w->kept, piece);
                is_kept = verdict ? PyObject_IsTrue(verdict) : -1;
                Py_XDECREF(verdict);
            }
            if (is_kept < 0) {
                Py_DECREF(piece);
                return -1;
            }
            if (is_kept) {
                lengths[j] += 1;
                int latin = 1;
                for (Py_ssize_t i = start; i < end && latin; i++) latin = !is_cjk(PyUnicode_READ(kind, data, i));
                lengths[j] += 2 * latin;
                if (w->target_words && may_be_wanted) {
                    PyObject *places = PyDict_GetItemWithError(w->target_words, piece);
                    if (!places && PyErr_Occurred()) {
                        Py_DECREF(piece);
                        return -1;
                    }
                    for (Py_ssize_t i = 0; places && i < PyTuple_GET_SIZE(places); i++)
                        counts[j * n_terms + PyLong_AsSsize_t(PyTuple_GET_ITEM(places, i))] += 1;
                }
                for (Py_ssize_t i = 0; i < w->n_targets && may_be_wanted && !w->target_words; i++) {
                    int same = PyUnicode_Compare(piece, w->targets[i].word);
                    if (same == -1 && PyErr_Occurred()) {
                        Py_DECREF(piece);
                        return -1;
                    }
                    if (same == 0) counts[j * n_terms + w->targets[i].term] += 1;
                }
            }
            Py_DECREF(piece);
        }
        start = end;
    }
    if (start != length) return 1;
    /* Every CJK character is a unigram and every two neighbours a bigram, but stop words'. */
    for (Py_ssize_t s = 0; s < n_spans; s++) {
        Py_ssize_t lo = bounds[2 * s], hi = bounds[2 * s + 1];
        long *row = counts + s * n_terms;
        for (Py_ssize_t i = lo; i < hi; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (!is_cjk(c)) continue;
            lengths[s] += !(flags[c] & STOP_CHAR);
            int wanted = has_bit(w->gram_bits, c);  // an n-gram of the question may start here
            for (Py_ssize_t at = wanted ? find_u64(w->gram_keys, w->n_grams, c) : -1;
                 at >= 0 && at < w->n_grams && w->gram_keys[at] == c; at++)
                row[w->grams[at].term] += 1;
            if (i + 1 < hi) {
                Py_UCS4 next = PyUnicode_READ(kind, data, i + 1);
                if (is_cjk(next)) {
                    uint64_t pair = (uint64_t)c << 32 | next;
                    lengths[s] +=
                        !((flags[c] & STOP_PAIR_FIRST) && find_u64(w->stop_pairs, w->n_stop_pairs, pair) >= 0);
                    for (Py_ssize_t at = wanted ? find_u64(w->gram_keys, w->n_grams, pair) : -1;
                         at >= 0 && at < w->n_grams && w->gram_keys[at] == pair; at++)
                        row[w->grams[at].term] += 1;
                }
            }
        }
    }
    return 0;
}

PyDoc_STRVAR(sentence_counts_doc,
             "sentence_counts(normalised, cut, spans, kept, wanted, flags, stop_pairs)\n"
             "    -> list[tuple[dict[str, int], int]] | None\n\n"
             "Analyzer.counts_within of a text whose normalised form has the same offsets, from the cut\n"
             "stored with it: for each span, the wanted terms it holds with their counts, and its number\n"
             "of tokens. None if the cut does not fit the text. kept: piece -> whether it is an index word;\n"
             "wanted: the terms (words, and text.py's UNIGRAM and BIGRAM terms); flags: a byte per BMP code\n"
             "point (1: a stop word alone, 2: the first of a stop word of two CJK characters); stop_pairs:\n"
             "those stop words as sorted (first << 32 | second) keys (uint64).");

static PyObject *sentence_counts(PyObject *self, PyObject *args) {
    PyObject *text, *cut_obj, *span_list, *kept, *wanted, *flags_obj, *stop_pairs_obj;
    if (!PyArg_ParseTuple(args, "UOOOO!OO", &text, &cut_obj, &span_list, &kept, &PyFrozenSet_Type, &wanted,
                          &flags_obj, &stop_pairs_obj))
        return NULL;
    Wanted w;
    Py_buffer cut = {0};
    int have_cut = 0;
    PyObject *span_seq = NULL, *result = NULL;
    Py_ssize_t *bounds = NULL;
    long *counts = NULL, *lengths = NULL;

    if (wanted_init(&w, wanted, kept, flags_obj, stop_pairs_obj) < 0) goto done;
    Py_ssize_t n_terms = w.n_terms;
    if (PyObject_GetBuffer(cut_obj, &cut, PyBUF_SIMPLE) < 0) goto done;
    have_cut = 1;
    span_seq = PySequence_Fast(span_list, "spans must be a sequence");
    if (!span_seq) goto done;
    Py_ssize_t n_spans = PySequence_Fast_GET_SIZE(span_seq);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    bounds = PyMem_Malloc((2 * n_spans + 1) * sizeof(Py_ssize_t));
    counts = PyMem_Calloc(n_spans * n_terms + 1, sizeof(long));
    lengths = PyMem_Calloc(n_spans + 1, sizeof(long));
    if (!bounds || !counts || !lengths) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t j = 0; j < n_spans; j++) {
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(span_seq, j), "nn", &bounds[2 * j], &bounds[2 * j + 1]))
            goto done;
        Py_ssize_t lo = bounds[2 * j], hi = bounds[2 * j + 1];
        if (lo < 0 || hi < lo || hi > length || (j && lo < bounds[2 * j - 1])) {
            PyErr_SetString(PyExc_ValueError, "spans must be sorted, apart and within the text");
            goto done;
        }
    }
    int counted = count_spans(&w, text, cut.buf, cut.len, bounds, n_spans, counts, lengths);
    if (counted < 0) goto done;
    if (counted > 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    result = PyList_New(n_spans);
    if (!result) goto done;
    for (Py_ssize_t s = 0; s < n_spans; s++) {
        PyObject *found = PyDict_New();
        PyObject *pair = found ? Py_BuildValue("(Nl)", found, lengths[s]) : NULL;
        if (!pair) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, s, pair);
        for (Py_ssize_t t = 0; t < n_terms; t++) {
            long n = counts[s * n_terms + t];
            if (!n) continue;
            PyObject *value = PyLong_FromLong(n);
            if (!value || PyDict_SetItem(found, PyList_GET_ITEM(w.terms, t), value) < 0) {
                Py_XDECREF(value);
                Py_CLEAR(result);
                goto done;
            }
            Py_DECREF(value);
        }
    }
done:
    wanted_free(&w);
    if (have_cut) PyBuffer_Release(&cut);
    Py_XDECREF(span_seq);
    PyMem_Free(bounds);
    PyMem_Free(counts);
    PyMem_Free(lengths);
    return result;
}

/* -- where a passage's sentences end -------------------------------------------------------- */

static int in_set(Py_UCS4 c, const Py_UCS4 *set) {
    for (; *set; set++)
        if (*set == c) return 1;
    return 0;
}

/* Whether c may be one of the marks below (all ASCII, or in U+2018..U+201D, U+3002..U+300F or
 * U+FF01..U+FF1F): most characters of a passage are not, and are passed over without a look in them. */
static inline int may_be_mark(Py_UCS4 c) {
    return c < 0x80 || (c >= 0x2018 && c <= 0x201d) || (c >= 0x3002 && c <= 0x300f) || (c >= 0xff01 && c <= 0xff1f);
}

/* sentences.py's marks, as code points (0-terminated). */
static const Py_UCS4 OPENERS[] = {0xff08, '(', 0x201c, 0x300c, 0x300e, 0x300a, 0x3008, 0};
static const Py_UCS4 CLOSERS[] = {0xff09, ')', 0x201d, 0x300d, 0x300f, 0x300b, 0x3009, 0};
static const Py_UCS4 CLOSING_QUOTES[] = {0x201d, 0x2019, 0x300d, 0x300f, '"', '\'', ')', 0xff09, 0x300b, 0};
static const Py_UCS4 ENDS[] = {0x3002, 0xff01, 0xff1f, '!', '?', 0};
static const Py_UCS4 ENDS_OTHER[] = {0x3002, 0xff01, 0xff1f, '!', '?', 0xff0e, 0};
#define FULL_STOP 0x3002
#define OTHER_FULL_STOP 0xff0e

static int blank(int kind, const void *data, Py_ssize_t lo, Py_ssize_t hi) {
    for (Py_ssize_t i = lo; i < hi; i++)
        if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i))) return 0;
    return 1;
}

/* A growing array of (lo, hi) pairs. */
typedef struct {
    Py_ssize_t *bounds, n, room;
} Spans;

static int add_span(Spans *spans, Py_ssize_t lo, Py_ssize_t hi) {
    if (spans->n == spans->room) {
        Py_ssize_t room = spans->room ? 2 * spans->room : 16;
        Py_ssize_t *grown = PyMem_Realloc(spans->bounds, 2 * room * sizeof(Py_ssize_t));
        if (!grown) {
            PyErr_NoMemory();
            return -1;
        }
        spans->bounds = grown;
        spans->room = room;
    }
    spans->bounds[2 * spans->n] = lo;
    spans->bounds[2 * spans->n + 1] = hi;
    spans->n++;
    return 0;
}

/* The spans of text's sentences (sentences.py's sentence_spans) into spans (empty; the caller frees
 * spans->bounds either way); -1 with an exception set if memory ran out. */
static int cut_sentences(PyObject *text, Py_ssize_t max_protected, Spans *spans) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    int has_full_stop = 0, has_other = 0;
    for (Py_ssize_t i = 0; i < n && !has_full_stop; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        has_full_stop = c == FULL_STOP;
        has_other |= c == OTHER_FULL_STOP;
    }
    const Py_UCS4 *ends = !has_full_stop && has_other ? ENDS_OTHER : ENDS;
    Py_ssize_t start = 0, depth = 0, i = 0;
    while (i < n) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (!may_be_mark(c)) {
            i++;
            continue;
        }
        if (in_set(c, OPENERS)) depth += 1;
        else if (in_set(c, CLOSERS)) depth = depth > 0 ? depth - 1 : 0;
        if (c != '\n' && !in_set(c, ends)) {
            i++;
            continue;
        }
        // The run of sentence ends and closing quotes after this character belongs to it.
        Py_ssize_t end = i + 1, after = depth;
        while (end < n && c != '\n') {
            Py_UCS4 next = PyUnicode_READ(kind, data, end);
            if (!in_set(next, ends) && !in_set(next, CLOSING_QUOTES)) break;
            if (in_set(next, CLOSERS)) after = after > 0 ? after - 1 : 0;
            end++;
        }
        if (c != '\n' && after > 0 && i - start <= max_protected) {
            depth = after;
            i = end;
            continue;
        }
        if (!blank(kind, data, start, end) && add_span(spans, start, end) < 0) return -1;
        start = end;
        depth = 0;
        i = end;
    }
    if (!blank(kind, data, start, n) && add_span(spans, start, n) < 0) return -1;
    return 0;
}

PyDoc_STRVAR(sentence_spans_doc,
             "sentence_spans(text, max_protected) -> list[tuple[int, int]]\n\n"
             "sentences.py's sentence_spans, whose rules and reference it is (the tests hold the two equal).");

static PyObject *sentence_spans(PyObject *self, PyObject *args) {
    PyObject *text;
    Py_ssize_t max_protected;
    if (!PyArg_ParseTuple(args, "Un", &text, &max_protected)) return NULL;
    Spans spans = {0};
    PyObject *out = NULL;
    if (cut_sentences(text, max_protected, &spans) < 0) goto done;
    out = PyList_New(spans.n);
    if (!out) goto done;
    for (Py_ssize_t s = 0; s < spans.n; s++) {
        PyObject *span = Py_BuildValue("(nn)", spans.bounds[2 * s], spans.bounds[2 * s + 1]);
        if (!span) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, s, span);
    }
done:
    PyMem_Free(spans.bounds);
    return out;
}

/* -- the sentence stage's best sentence ------------------------------------------------------- */

/* math.fsum of n finite values: Shewchuk's exact partials and CPython's rounding of them (its
 * mathmodule.c), which is the correctly rounded sum, so the result is fsum's in any order. */
static double exact_sum(const double *values, Py_ssize_t n, double *partials) {
    Py_ssize_t m = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        double x = values[k];
        Py_ssize_t i = 0;
        for (Py_ssize_t j = 0; j < m; j++) {
            double y = partials[j];
            if (fabs(x) < fabs(y)) {
                double t = x;
                x = y;
                y = t;
            }
            double hi = x + y, yr = hi - x, lo = y - yr;
            if (lo != 0.0) partials[i++] = lo;
            x = hi;
        }
        m = i;
        if (x != 0.0) partials[m++] = x;
    }
    double hi = 0.0;
    if (m > 0) {
        double lo = 0.0;
        hi = partials[--m];
        while (m > 0) {  // from the top, until the sum is inexact
            double x = hi, y = partials[--m];
            hi = x + y;
            double yr = hi - x;
            lo = y - yr;
            if (lo != 0.0) break;
        }
        // Half-even rounding across several partials.
        if (m > 0 && ((lo < 0.0 && partials[m - 1] < 0.0) || (lo > 0.0 && partials[m - 1] > 0.0))) {
            double y = lo * 2.0, x = hi + y, yr = x - hi;
            if (y == yr) hi = x;
        }
    }
    return hi;
}

/* One term's part of a sentence's score: rerank.py's weighted[term] * tf * saturated / (tf + norm). */
static inline double term_score(double weight, long long tf, double saturated, double norm) {
    return weight * (double)tf * saturated / ((double)tf + norm);
}

/* rerank.py's k1 * (1 - b + b * (len(title_tokens) + length) / mean_length), in its order. */
static inline double sentence_norm(double k1, double b, Py_ssize_t title_length, long long tokens, double mean_length) {
    return mean_length ? k1 * (1 - b + b * (double)(title_length + tokens) / mean_length) : k1;
}

/* What scoring a question's sentences needs, for stage_scores and bag_scores alike: each of its
 * distinct terms' weight times idf, and room for a title's counts and a sentence's parts. */
typedef struct {
    Py_ssize_t n_terms;
    double *weighted, *values, *partials;
    long *in_title;  // the title's count of each term, filled by the caller for each passage
    double k1, b, saturated;
} Scorer;

static void scorer_free(Scorer *sc) {
    PyMem_Free(sc->weighted);
    PyMem_Free(sc->values);
    PyMem_Free(sc->partials);
    PyMem_Free(sc->in_title);
}

/* sc from the sequence of weights (n_terms of them; -1: as many as it holds); -1 with an exception
 * set if it is not that (sc is to be freed either way). */
static int scorer_init(Scorer *sc, PyObject *weighted_obj, Py_ssize_t n_terms, double k1, double b) {
    memset(sc, 0, sizeof(*sc));
    PyObject *weights = PySequence_Fast(weighted_obj, "weighted must be a sequence");
    if (!weights) return -1;
    if (n_terms < 0) n_terms = PySequence_Fast_GET_SIZE(weights);
    int failed = PySequence_Fast_GET_SIZE(weights) != n_terms;
    if (failed) PyErr_SetString(PyExc_ValueError, "weighted must have one weight for each term");
    *sc = (Scorer){n_terms, PyMem_Malloc((n_terms + 1) * sizeof(double)), PyMem_Malloc((n_terms + 1) * sizeof(double)),
                   PyMem_Malloc((n_terms + 1) * sizeof(double)), PyMem_Malloc((n_terms + 1) * sizeof(long)), k1, b,
                   k1 + 1};
    if (!failed && (!sc->weighted || !sc->values || !sc->partials || !sc->in_title)) {
        PyErr_NoMemory();
        failed = 1;
    }
    for (Py_ssize_t t = 0; t < n_terms && !failed; t++) {
        sc->weighted[t] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(weights, t));
        failed = sc->weighted[t] == -1.0 && PyErr_Occurred();
    }
    Py_DECREF(weights);
    return failed ? -1 : 0;
}

/* One sentence's score, rerank.py's sum: each term the sentence (counts) or the title holds,
 * term_score'd with the sentence's norm, summed exactly. */
static double sentence_score(const Scorer *sc, const long *counts, Py_ssize_t title_length, long long length,
                             double mean_length) {
    double norm = sentence_norm(sc->k1, sc->b, title_length, length, mean_length);
    Py_ssize_t count = 0;
    for (Py_ssize_t t = 0; t < sc->n_terms; t++) {
        long long tf = (long long)counts[t] + sc->in_title[t];
        if (tf) sc->values[count++] = term_score(sc->weighted[t], tf, sc->saturated, norm);
    }
    return exact_sum(sc->values, count, sc->partials);
}

PyDoc_STRVAR(best_sentence_doc,
             "best_sentence(counted, in_title, weighted, k1, b, title_length) -> float\n\n"
             "rerank.best_sentence_score's loop: the highest BM25 score of a sentence, each sentence's\n"
             "(counts, length) in counted, the title's counts of the question's terms in in_title, each\n"
             "term's weight times idf in weighted; every sentence's terms summed as math.fsum sums them.");

static PyObject *best_sentence(PyObject *self, PyObject *args) {
    PyObject *counted, *in_title, *weighted;
    double k1, b;
    Py_ssize_t title_length;
    if (!PyArg_ParseTuple(args, "OO!O!ddn", &counted, &PyDict_Type, &in_title, &PyDict_Type, &weighted, &k1, &b,
                          &title_length))
        return NULL;
    PyObject *seq = PySequence_Fast(counted, "counted must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), most = 0;
    long long total = 0;
    double *values = NULL, *partials = NULL, best = 0.0;
    int failed = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *counts, *length;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "O!O!", &PyDict_Type, &counts, &PyLong_Type, &length))
            goto done;
        long long tokens = PyLong_AsLongLong(length);
        if (tokens == -1 && PyErr_Occurred()) goto done;
        total += title_length + tokens;
        if (PyDict_GET_SIZE(counts) > most) most = PyDict_GET_SIZE(counts);
    }
    if (!n) {
        failed = 0;
        goto done;
    }
    most += PyDict_GET_SIZE(in_title);
    values = PyMem_Malloc((most + 1) * sizeof(double));
    partials = PyMem_Malloc((most + 1) * sizeof(double));
    if (!values || !partials) {
        PyErr_NoMemory();
        goto done;
    }
    const double saturated = k1 + 1, mean_length = (double)total / (double)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *counts = PyTuple_GET_ITEM(row, 0);
        long long tokens = PyLong_AsLongLong(PyTuple_GET_ITEM(row, 1));
        double norm = sentence_norm(k1, b, title_length, tokens, mean_length);
        Py_ssize_t count = 0, pos = 0;
        PyObject *term, *value;
        for (int pass = 0; pass < 2; pass++) {
            // The sentence's terms (with the title's count added), then the title's terms it lacks.
            PyObject *own = pass ? in_title : counts, *other = pass ? counts : in_title;
            pos = 0;
            while (PyDict_Next(own, &pos, &term, &value)) {
                long long tf = PyLong_AsLongLong(value);
                if (tf == -1 && PyErr_Occurred()) goto done;
                PyObject *also = PyDict_GetItemWithError(other, term);
                if (!also && PyErr_Occurred()) goto done;
                if (pass && also) continue;  // counted in the first pass
                if (also) {
                    long long more = PyLong_AsLongLong(also);
                    if (more == -1 && PyErr_Occurred()) goto done;
                    tf += more;
                }
                if (!tf) continue;
                PyObject *weight = PyDict_GetItemWithError(weighted, term);
                if (!weight) {
                    if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, term);
                    goto done;
                }
                double wt = PyFloat_AsDouble(weight);
                if (wt == -1.0 && PyErr_Occurred()) goto done;
                values[count++] = term_score(wt, tf, saturated, norm);
            }
        }
        double score = exact_sum(values, count, partials);
        if (score > best) best = score;
    }
    failed = 0;
done:
    Py_DECREF(seq);
    PyMem_Free(values);
    PyMem_Free(partials);
    return failed ? NULL : PyFloat_FromDouble(best);
}

/* -- the whole sentence stage of a question ------------------------------------------------- */

PyDoc_STRVAR(stage_scores_doc,
             "stage_scores(passages, terms, weighted, kept, flags, stop_pairs, k1, b, max_protected)\n"
             "    -> list[float | None]\n\n"
             "rerank.best_sentence_score of each of a question's passages in one call: each passage a\n"
             "(text, normalised, cut, title_tokens) tuple, normalised being text normalised in place and\n"
             "cut the cut stored with it; terms the question's distinct terms, weighted each one's weight\n"
             "times idf. Each passage is cut into sentences (sentence_spans), counted (sentence_counts) and\n"
             "scored (best_sentence) with the same arithmetic; None for a passage whose cut does not fit.\n"
             "kept, flags, stop_pairs: as sentence_counts takes them.");

static PyObject *stage_scores(PyObject *self, PyObject *args) {
    PyObject *passages, *terms, *weighted_obj, *kept, *flags_obj, *stop_pairs_obj;
    double k1, b;
    Py_ssize_t max_protected;
    if (!PyArg_ParseTuple(args, "OOOOOOddn", &passages, &terms, &weighted_obj, &kept, &flags_obj, &stop_pairs_obj,
                          &k1, &b, &max_protected))
        return NULL;
    Wanted w;
    Spans spans = {0};
    Scorer sc = {0};
    PyObject *seq = NULL, *result = NULL, *term_index = NULL;
    long *counts = NULL, *lengths = NULL;
    Py_ssize_t room = 0;  // sentences counts and lengths have room for

    if (wanted_init(&w, terms, kept, flags_obj, stop_pairs_obj) < 0) goto done;
    Py_ssize_t n_terms = w.n_terms;
    if (scorer_init(&sc, weighted_obj, n_terms, k1, b) < 0) goto done;
    seq = PySequence_Fast(passages, "passages must be a sequence");
    if (!seq) goto done;
    term_index = places_of(&w);  // for counting the titles' tokens
    if (!term_index) goto done;
    Py_ssize_t n_passages = PySequence_Fast_GET_SIZE(seq);
    result = PyList_New(n_passages);
    if (!result) goto done;
    for (Py_ssize_t p = 0; p < n_passages; p++) {
        PyObject *text, *normalised, *title_tokens;
        Py_buffer cut;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, p), "UUy*O", &text, &normalised, &cut, &title_tokens))
            goto failed;
        // The title's count of each of the question's terms, and its number of tokens.
        Py_ssize_t title_length = count_title(term_index, title_tokens, n_terms, sc.in_title, 0);
        if (title_length < 0 || PyUnicode_GET_LENGTH(normalised) != PyUnicode_GET_LENGTH(text)) {
            PyBuffer_Release(&cut);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "a normalised text must be as long as its text");
            goto failed;
        }
        spans.n = 0;
        int status = cut_sentences(text, max_protected, &spans);
        if (status == 0 && (spans.n > room || !counts)) {
            PyMem_Free(counts);
            PyMem_Free(lengths);
            room = spans.n;
            counts = PyMem_Malloc((room * n_terms + 1) * sizeof(long));
            lengths = PyMem_Malloc((room + 1) * sizeof(long));
            if (!counts || !lengths) {
                PyErr_NoMemory();
                status = -1;
            }
        }
        if (status == 0) {
            memset(counts, 0, (spans.n * n_terms + 1) * sizeof(long));
            memset(lengths, 0, (spans.n + 1) * sizeof(long));
            status = count_spans(&w, normalised, cut.buf, cut.len, spans.bounds, spans.n, counts, lengths);
        }
        PyBuffer_Release(&cut);
        if (status < 0) goto failed;
        if (status > 0) {
            PyList_SET_ITEM(result, p, Py_NewRef(Py_None));
            continue;
        }
        /* best_sentence over the rows: every term the sentence or the title holds, summed exactly. */
        double best = 0.0;
        if (spans.n) {
            long long total = 0;
            for (Py_ssize_t s = 0; s < spans.n; s++) total += title_length + lengths[s];
            const double mean_length = (double)total / (double)spans.n;
            for (Py_ssize_t s = 0; s < spans.n; s++) {
                double score = sentence_score(&sc, counts + s * n_terms, title_length, lengths[s], mean_length);
                if (score > best) best = score;
            }
        }
        PyObject *value = PyFloat_FromDouble(best);
        if (!value) goto failed;
        PyList_SET_ITEM(result, p, value);
    }
    goto done;
failed:
    Py_CLEAR(result);
done:
    wanted_free(&w);
    scorer_free(&sc);
    Py_XDECREF(seq);
    Py_XDECREF(term_index);
    PyMem_Free(spans.bounds);
    PyMem_Free(counts);
    PyMem_Free(lengths);
    return result;
}

/* -- the stage's counts stored at index time ------------------------------------------------ */

/* A growing byte string. */
typedef struct {
    unsigned char *data;
    Py_ssize_t n, room;
} Bytes;

static int put_varint(Bytes *out, uint64_t v) {
    if (out->n + 10 > out->room) {
        Py_ssize_t room = out->room ? 2 * out->room : 256;
        unsigned char *grown = PyMem_Realloc(out->data, room);
        if (!grown) {
            PyErr_NoMemory();
            return -1;
        }
        out->data = grown;
        out->room = room;
    }
    do {
        unsigned char byte = v & 0x7f;
        v >>= 7;
        out->data[out->n++] = byte | (v ? 0x80 : 0);
    } while (v);
    return 0;
}

/* The next varint of [*at, end) into *v; -1 if it runs past end or is too long. */
static int get_varint(const unsigned char **at, const unsigned char *end, uint64_t *v) {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*at >= end) return -1;
        unsigned char byte = *(*at)++;
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *v = value;
            return 0;
        }
    }
    return -1;
}

/* One record of a bag: a token count, then each term held with its count, a term being its place in
 * the passage's forward list (the order of first occurrence, which merging keeps). */
static int put_record(Bytes *out, long length, const long *counts, Py_ssize_t n_terms) {
    Py_ssize_t held = 0;
    for (Py_ssize_t t = 0; t < n_terms; t++) held += counts[t] != 0;
    if (put_varint(out, (uint64_t)length) < 0 || put_varint(out, (uint64_t)held) < 0) return -1;
    for (Py_ssize_t t = 0; t < n_terms; t++) {
        if (!counts[t]) continue;
        // The place, doubled, and 1 for a count above 1, which follows: most counts are 1.
        if (put_varint(out, (uint64_t)t << 1 | (counts[t] > 1)) < 0) return -1;
        if (counts[t] > 1 && put_varint(out, (uint64_t)counts[t]) < 0) return -1;
    }
    return 0;
}

PyDoc_STRVAR(sentence_bags_doc,
             "sentence_bags(text, normalised, cut, terms, title_tokens, kept, flags, stop_pairs, max_protected)\n"
             "    -> bytes | None\n\n"
             "What the sentence stage reads of a passage, made when it is indexed (bags.py): a record for\n"
             "its title and then one for each sentence (sentence_spans), each its number of tokens and the\n"
             "terms it holds with their counts (sentence_counts), a term given by its place in terms, the\n"
             "passage's distinct index terms in the order of its forward list. Records are varints.\n"
             "None if the cut does not fit the text; kept, flags, stop_pairs: as sentence_counts takes them.");

static PyObject *sentence_bags(PyObject *self, PyObject *args) {
    PyObject *text, *normalised, *terms, *title_tokens, *kept, *flags_obj, *stop_pairs_obj;
    Py_buffer cut;
    Py_ssize_t max_protected;
    if (!PyArg_ParseTuple(args, "UUy*OOOOOn", &text, &normalised, &cut, &terms, &title_tokens, &kept, &flags_obj,
                          &stop_pairs_obj, &max_protected))
        return NULL;
    Wanted w;
    Spans spans = {0};
    Bytes out = {0};
    PyObject *result = NULL, *places = NULL;
    long *counts = NULL, *lengths = NULL;
    if (wanted_init(&w, terms, kept, flags_obj, stop_pairs_obj) < 0) goto done;
    Py_ssize_t n_terms = w.n_terms;
    if (PyUnicode_GET_LENGTH(normalised) != PyUnicode_GET_LENGTH(text)) {
        PyErr_SetString(PyExc_ValueError, "a normalised text must be as long as its text");
        goto done;
    }
    // The title's record: its tokens counted by their places.
    places = places_of(&w);
    counts = PyMem_Calloc(n_terms + 1, sizeof(long));
    if (!places || !counts) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t title_length = count_title(places, title_tokens, n_terms, counts, 1);
    if (title_length < 0 || put_record(&out, (long)title_length, counts, n_terms) < 0) goto done;
    PyMem_Free(counts);
    counts = NULL;
    if (cut_sentences(text, max_protected, &spans) < 0) goto done;
    counts = PyMem_Calloc(spans.n * n_terms + 1, sizeof(long));
    lengths = PyMem_Calloc(spans.n + 1, sizeof(long));
    if (!counts || !lengths) {
        PyErr_NoMemory();
        goto done;
    }
    int status = count_spans(&w, normalised, cut.buf, cut.len, spans.bounds, spans.n, counts, lengths);
    if (status < 0) goto done;
    if (status > 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    for (Py_ssize_t s = 0; s < spans.n; s++)
        if (put_record(&out, lengths[s], counts + s * n_terms, n_terms) < 0) goto done;
    result = PyBytes_FromStringAndSize((const char *)out.data, out.n);
done:
    PyBuffer_Release(&cut);
    wanted_free(&w);
    Py_XDECREF(places);
    PyMem_Free(spans.bounds);
    PyMem_Free(out.data);
    PyMem_Free(counts);
    PyMem_Free(lengths);
    return result;
}

PyDoc_STRVAR(bag_scores_doc,
             "bag_scores(passages, weighted, k1, b) -> list[float | None]\n\n"
             "rerank.best_sentence_score of each passage from the bag stored with it (sentence_bags):\n"
             "each passage a (bag, fwd_offsets, fwd_terms, doc, ids, places) tuple: its bag, its segment's\n"
             "forward lists and its number there, the question's term ids in that segment and each one's\n"
             "place among the question's distinct terms (tuples of ints), whose weight times idf weighted\n"
             "holds. The same arithmetic as best_sentence; None for a bag that does not fit its forward\n"
             "list (damaged) or a question of very many terms: the caller scores the passage from its text.");

/* Room for the question's term ids in bag_score's table, kept at most a quarter full: a question with
 * more terms in one segment than ID_TABLE / 4 (256) has its passages scored from their texts. */
#define ID_TABLE 1024

/* best_sentence of one bag, the passage's forward list being forward[lo, lo + n_forward), or -1 if the
 * bag does not fit it (scores are never negative). At most ID_TABLE / 4 ids. */
static double bag_score(const Scorer *sc, const unsigned char *bag, Py_ssize_t size, const Py_buffer *forward,
                        Py_ssize_t lo, Py_ssize_t n_forward, const int64_t *ids, const int64_t *places,
                        Py_ssize_t n_ids, long *place_of, long *counts) {
    long *in_title = sc->in_title;
    const unsigned char *end = bag + size;
    // The question's term ids in an open-addressed table (a power of two, at most a quarter full).
    int64_t table[2 * ID_TABLE];
    Py_ssize_t mask = ID_TABLE - 1;
    for (Py_ssize_t i = 0; i < ID_TABLE; i++) table[2 * i] = -1;
    for (Py_ssize_t i = 0; i < n_ids; i++) {
        Py_ssize_t h = (Py_ssize_t)(((uint64_t)ids[i] * 2654435761u) & (uint64_t)mask);
        while (table[2 * h] != -1) h = (h + 1) & mask;
        table[2 * h] = ids[i];
        table[2 * h + 1] = places[i];
    }
    // Each place of the forward list -> the question's term there, or -1.
    for (Py_ssize_t e = 0; e < n_forward; e++) {
        int64_t id = item(forward, lo + e);
        Py_ssize_t h = (Py_ssize_t)(((uint64_t)id * 2654435761u) & (uint64_t)mask);
        while (table[2 * h] != -1 && table[2 * h] != id) h = (h + 1) & mask;
        place_of[e] = table[2 * h] == id ? (long)table[2 * h + 1] : -1;
    }
    /* Two passes: the title's counts and every sentence's length (for the mean), then the scores. */
    uint64_t title_length = 0, length = 0, held = 0, code = 0, tf = 1;
    long long total = 0;
    Py_ssize_t n_sentences = 0;
    const unsigned char *at = bag, *sentences = NULL;
    memset(in_title, 0, (sc->n_terms + 1) * sizeof(long));
    for (int record = 0; at < end; record++) {
        if (get_varint(&at, end, &length) < 0 || get_varint(&at, end, &held) < 0) return -1;
        for (uint64_t i = 0; i < held; i++) {
            if (get_varint(&at, end, &code) < 0) return -1;
            tf = 1;
            if ((code & 1) && get_varint(&at, end, &tf) < 0) return -1;
            if ((Py_ssize_t)(code >> 1) >= n_forward) return -1;
            long q = place_of[code >> 1];
            if (!record && q >= 0) in_title[q] += (long)tf;
        }
        if (!record) {
            title_length = length;
            sentences = at;
        } else {
            total += (long long)(title_length + length);
            n_sentences++;
        }
    }
    if (!sentences) return -1;  // not even a title's record
    if (!n_sentences) return 0.0;
    const double mean_length = (double)total / (double)n_sentences;
    double best = 0.0;
    at = sentences;
    while (at < end) {
        get_varint(&at, end, &length);  // read once already: they fit
        get_varint(&at, end, &held);
        memset(counts, 0, (sc->n_terms + 1) * sizeof(long));
        for (uint64_t i = 0; i < held; i++) {
            get_varint(&at, end, &code);
            tf = 1;
            if (code & 1) get_varint(&at, end, &tf);
            long q = place_of[code >> 1];
            if (q >= 0) counts[q] += (long)tf;
        }
        double score = sentence_score(sc, counts, (Py_ssize_t)title_length, (long long)length, mean_length);
        if (score > best) best = score;
    }
    return best;
}

static PyObject *bag_scores(PyObject *self, PyObject *args) {
    PyObject *passages, *weighted_obj;
    double k1, b;
    if (!PyArg_ParseTuple(args, "OOdd", &passages, &weighted_obj, &k1, &b)) return NULL;
    Scorer sc;
    PyObject *seq = NULL, *result = NULL;
    long *counts = NULL, *place_of = NULL;
    int64_t ids[ID_TABLE / 4], places[ID_TABLE / 4];
    Py_ssize_t room = 0;  // forward places place_of has room for
    if (scorer_init(&sc, weighted_obj, -1, k1, b) < 0) goto done;
    Py_ssize_t n_terms = sc.n_terms;
    seq = PySequence_Fast(passages, "passages must be a sequence");
    counts = PyMem_Malloc((n_terms + 1) * sizeof(long));
    if (!seq || !counts) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t n_passages = PySequence_Fast_GET_SIZE(seq);
    result = PyList_New(n_passages);
    if (!result) goto done;
    for (Py_ssize_t p = 0; p < n_passages; p++) {
        PyObject *bag_obj, *offsets_obj, *forward_obj, *id_list, *place_list;
        Py_ssize_t doc;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, p), "O!OOnO!O!", &PyBytes_Type, &bag_obj, &offsets_obj,
                              &forward_obj, &doc, &PyTuple_Type, &id_list, &PyTuple_Type, &place_list))
            goto failed;
        Py_ssize_t n_ids = PyTuple_GET_SIZE(id_list);
        if (PyTuple_GET_SIZE(place_list) != n_ids) {
            PyErr_SetString(PyExc_ValueError, "ids and places must be as many");
            goto failed;
        }
        double score = -1;  // None: the caller scores the passage from its text
        if (n_ids <= ID_TABLE / 4) {
            for (Py_ssize_t i = 0; i < n_ids; i++) {
                ids[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(id_list, i));
                places[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(place_list, i));
                if (PyErr_Occurred()) goto failed;
                if (places[i] < 0 || places[i] >= n_terms) {
                    PyErr_SetString(PyExc_ValueError, "a place lies outside weighted");
                    goto failed;
                }
            }
            Py_buffer offsets, forward;
            if (PyObject_GetBuffer(offsets_obj, &offsets, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) goto failed;
            if (PyObject_GetBuffer(forward_obj, &forward, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
                PyBuffer_Release(&offsets);
                goto failed;
            }
            int bad = !exception_size_ok(&offsets) || !exception_size_ok(&forward);
            Py_ssize_t n_docs = bad ? 0 : offsets.len / offsets.itemsize - 1;
            Py_ssize_t lo = 0, hi = 0;
            if (!bad && doc >= 0 && doc < n_docs) {
                lo = (Py_ssize_t)item(&offsets, doc);
                hi = (Py_ssize_t)item(&offsets, doc + 1);
            }
            // A document outside the segment, or a forward list outside its array: damaged, as a bag may be.
            int fits = !bad && doc >= 0 && doc < n_docs && 0 <= lo && lo <= hi && hi <= forward.len / forward.itemsize;
            if (fits && (hi - lo > room || !place_of)) {
                PyMem_Free(place_of);
                room = hi - lo;
                place_of = PyMem_Malloc((room + 1) * sizeof(long));
                if (!place_of) PyErr_NoMemory();
            }
            if (fits && place_of) {
                const unsigned char *bag = (const unsigned char *)PyBytes_AS_STRING(bag_obj);
                score = bag_score(&sc, bag, PyBytes_GET_SIZE(bag_obj), &forward, lo, hi - lo, ids, places, n_ids,
                                  place_of, counts);
            }
            PyBuffer_Release(&offsets);
            PyBuffer_Release(&forward);
            if (PyErr_Occurred()) goto failed;
            if (bad) {
                PyErr_SetString(PyExc_ValueError, "fwd_offsets and fwd_terms must be arrays of integers");
                goto failed;
            }
        }
        PyObject *value = score < 0 ? Py_NewRef(Py_None) : PyFloat_FromDouble(score);
        if (!value) goto failed;
        PyList_SET_ITEM(result, p, value);
    }
    goto done;
failed:
    Py_CLEAR(result);
done:
    scorer_free(&sc);
    Py_XDECREF(seq);
    PyMem_Free(counts);
    PyMem_Free(place_of);
    return result;
}

static PyMethodDef methods[] = {
    {"top_k", top_k, METH_VARARGS, top_k_doc},
    {"top_k_pruned", top_k_pruned, METH_VARARGS, top_k_pruned_doc},
    {"sentence_counts", sentence_counts, METH_VARARGS, sentence_counts_doc},
    {"best_sentence", best_sentence, METH_VARARGS, best_sentence_doc},
    {"sentence_spans", sentence_spans, METH_VARARGS, sentence_spans_doc},
    {"stage_scores", stage_scores, METH_VARARGS, stage_scores_doc},
    {"sentence_bags", sentence_bags, METH_VARARGS, sentence_bags_doc},
    {"bag_scores", bag_scores, METH_VARARGS, bag_scores_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scoring",
    "The first stage's top k and the sentence stage's counts, cut and sum, compiled (see _scoring.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__scoring(void) { return PyModule_Create(&module); }
