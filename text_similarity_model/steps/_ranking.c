/* The service's hot loop in C: one query against the inverted index
 * (``rank``), and against the track classifier's centroids (``top_classes``);
 * then, for the few talks returned only, why each matched (``explain``) and
 * the same-talk detector's field cosines (``row_dots``).
 *
 * ``rank`` does in one call what its NumPy twin does in a few dozen NumPy
 * calls (ranking.py: ``rank_numpy``, ``query_scores``, ``blend``, ``best``),
 * with the same arithmetic, so both give the same talks and scores
 * (tests/test_ranking_kernel.py):
 *
 *   1. TF-IDF cosine: the postings of the query's terms, term by term,
 *      summed per talk (as ``np.bincount`` sums them).
 *   2. With a latent space: the ``n_candidates`` best talks by cosine
 *      (score descending, then talk ascending) are re-scored,
 *      ``(1 - w) * cosine + w * max(latent cosine, 0)``; the others get
 *      ``(1 - w) * cosine``. Latent dot products in double precision
 *      (summed in another order than NumPy's: scores agree to ~1e-16).
 *   3. Scores capped at 1, talks outside ``mask`` dropped, the ``k`` best
 *      (score descending, then talk ascending) written to the outputs.
 *
 * The work grows with the query's postings, not with the corpus size: the
 * per-talk accumulator is kept between calls and only the talks a query
 * touched are reset, or, when its postings could reach more than 1/16 of a
 * large corpus, the accumulator is read and cleared in order (then still
 * under 16 times the postings). It is shared by all calls, which is safe
 * because the GIL is held throughout (no Py_BEGIN_ALLOW_THREADS here).
 *
 * Plain C against the buffer protocol (no NumPy headers): the Python side
 * passes contiguous arrays of the dtypes checked below.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double score;
    int64_t doc;
} Entry;

/* Scratch kept between calls, grown on demand. */
static double *accumulated = NULL;  /* per talk: summed cosine (0 when untouched) */
static uint8_t *seen = NULL;        /* per talk: touched by this query */
static int32_t *touched = NULL;     /* the talks touched, in first-touch order */
static Entry *matches = NULL;       /* the talks matched, with their cosines */
static Py_ssize_t scratch_size = 0;

static int ensure_scratch(Py_ssize_t n_docs) {
    if (n_docs <= scratch_size) return 0;
    double *new_accumulated = calloc((size_t)n_docs, sizeof(double));
    uint8_t *new_seen = calloc((size_t)n_docs, 1);
    int32_t *new_touched = malloc((size_t)n_docs * sizeof(int32_t));
    Entry *new_matches = malloc((size_t)n_docs * sizeof(Entry));
    if (!new_accumulated || !new_seen || !new_touched || !new_matches) {
        free(new_accumulated);
        free(new_seen);
        free(new_touched);
        free(new_matches);
        PyErr_NoMemory();
        return -1;
    }
    free(accumulated);
    free(seen);
    free(touched);
    free(matches);
    accumulated = new_accumulated;
    seen = new_seen;
    touched = new_touched;
    matches = new_matches;
    scratch_size = n_docs;
    return 0;
}

/* a ranks below b: lower score, or the same score and a higher talk. */
static inline int worse(const Entry *a, const Entry *b) {
    return a->score < b->score || (a->score == b->score && a->doc > b->doc);
}

/* A bounded heap keeping the ``capacity`` best entries; its root is the worst kept. */
typedef struct {
    Entry *entries;
    Py_ssize_t size, capacity;
} Best;

static void sift_down(Best *best, Py_ssize_t i) {
    Entry *e = best->entries;
    for (;;) {
        Py_ssize_t child = 2 * i + 1, worst = i;
        if (child < best->size && worse(&e[child], &e[worst])) worst = child;
        if (child + 1 < best->size && worse(&e[child + 1], &e[worst])) worst = child + 1;
        if (worst == i) return;
        Entry swap = e[i];
        e[i] = e[worst];
        e[worst] = swap;
        i = worst;
    }
}

static void offer(Best *best, double score, int64_t doc) {
    Entry candidate = {score, doc};
    Entry *e = best->entries;
    if (best->size < best->capacity) {
        Py_ssize_t i = best->size++;
        e[i] = candidate;
        while (i > 0) {  /* sift up */
            Py_ssize_t parent = (i - 1) / 2;
            if (!worse(&e[i], &e[parent])) break;
            Entry swap = e[i];
            e[i] = e[parent];
            e[parent] = swap;
            i = parent;
        }
    } else if (best->capacity > 0 && worse(&e[0], &candidate)) {
        e[0] = candidate;
        sift_down(best, 0);
    }
}

static int best_first(const void *a, const void *b) {
    const Entry *x = a, *y = b;
    if (worse(x, y)) return 1;
    if (worse(y, x)) return -1;
    return 0;
}

/* Moves the ``n`` best of ``entries[0..m)`` to its front (in no order):
 * quickselect by ``worse``, a total order since talks are distinct. */
static void select_best(Entry *e, Py_ssize_t m, Py_ssize_t n) {
    Py_ssize_t lo = 0, hi = m - 1, target = n - 1;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        /* median of three as the pivot: no quadratic case on sorted input */
        Entry a = e[lo], b = e[mid], c = e[hi], pivot;
        if (worse(&a, &b)) { Entry t = a; a = b; b = t; }  /* now a >= b */
        if (worse(&b, &c)) pivot = worse(&a, &c) ? a : c;
        else pivot = b;
        Py_ssize_t i = lo, j = hi;
        while (i <= j) {
            while (worse(&pivot, &e[i])) i++;
            while (worse(&e[j], &pivot)) j--;
            if (i <= j) {
                Entry t = e[i];
                e[i] = e[j];
                e[j] = t;
                i++;
                j--;
            }
        }
        if (target <= j) hi = j;
        else if (target >= i) lo = i;
        else break;
    }
}

/* Dot product of a float32 row with a double vector, in double. Eight
 * running sums (summed pairwise at the end) instead of one: independent
 * additions the CPU can overlap and the compiler can vectorise, as BLAS
 * does on NumPy's side; the results agree to ~1e-16. */
#define LANES 8
static inline double dot(const float *row, const double *vector, Py_ssize_t n) {
    double sums[LANES] = {0};
    Py_ssize_t c = 0;
    for (; c + LANES <= n; c += LANES)
        for (int lane = 0; lane < LANES; lane++) sums[lane] += (double)row[c + lane] * vector[c + lane];
    for (; c < n; c++) sums[0] += (double)row[c] * vector[c];
    return ((sums[0] + sums[4]) + (sums[1] + sums[5])) + ((sums[2] + sums[6]) + (sums[3] + sums[7]));
}

/* A buffer of the given item size and one of the given format characters
 * ('\0' in formats: any), C-contiguous; ``None`` allowed when ``optional``. */
static int get_array(PyObject *object, Py_buffer *view, const char *name, Py_ssize_t itemsize,
                     const char *formats, int writable, int optional) {
    memset(view, 0, sizeof *view);  /* buf NULL: the array was None */
    if (object == Py_None && optional) return 0;
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(object, view, flags) < 0) return -1;
    const char *format = view->format ? view->format : "B";
    if (*format == '<' || *format == '=' || *format == '@') format++;
    if (view->itemsize != itemsize || format[1] != '\0' || (formats[0] && !strchr(formats, format[0]))) {
        PyErr_Format(PyExc_TypeError, "%s: expected items of %zd bytes (format %s), got format %s",
                     name, itemsize, formats, view->format ? view->format : "B");
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    return 0;
}

static void release(Py_buffer *views, int n) {
    for (int i = 0; i < n; i++)
        if (views[i].obj) PyBuffer_Release(&views[i]);
}

enum { INDPTR, INDICES, DATA, TERMS, WEIGHTS, LATENT_TERMS, LATENT_CORPUS, MASK, OUT_DOCS, OUT_SCORES, N_VIEWS };

PyDoc_STRVAR(rank_doc,
"rank(indptr, indices, data, n_docs, positive_index, terms, weights, latent_terms, latent_corpus,\n"
"     latent_weight, n_candidates, mask, out_docs, out_scores) -> int\n\n"
"One query's best talks, written to out_docs (int64) and out_scores (float64),\n"
"as many as they hold; returns how many were written. indptr/indices/data: the\n"
"inverted index (CSR, int32/int32/float64, one row per term), positive_index\n"
"True when all its values are > 0; terms (int32) and\n"
"weights (float64, L2-normalised here): the query; latent_terms (float32, n_terms x c)\n"
"and latent_corpus (float32, n_docs x c), or None for the plain cosine; mask\n"
"(bool, n_docs) or None.");

static PyObject *rank(PyObject *module, PyObject *args) {
    PyObject *objects[N_VIEWS];
    Py_ssize_t n_docs, n_candidates;
    double latent_weight;
    int positive_index;
    if (!PyArg_ParseTuple(args, "OOOnpOOOOdnOOO:rank", &objects[INDPTR], &objects[INDICES], &objects[DATA],
                          &n_docs, &positive_index, &objects[TERMS], &objects[WEIGHTS], &objects[LATENT_TERMS],
                          &objects[LATENT_CORPUS], &latent_weight, &n_candidates, &objects[MASK],
                          &objects[OUT_DOCS], &objects[OUT_SCORES]))
        return NULL;

    Py_buffer v[N_VIEWS];
    memset(v, 0, sizeof v);
    if (get_array(objects[INDPTR], &v[INDPTR], "indptr", 4, "il", 0, 0) < 0 ||
        get_array(objects[INDICES], &v[INDICES], "indices", 4, "il", 0, 0) < 0 ||
        get_array(objects[DATA], &v[DATA], "data", 8, "d", 0, 0) < 0 ||
        get_array(objects[TERMS], &v[TERMS], "terms", 4, "il", 0, 0) < 0 ||
        get_array(objects[WEIGHTS], &v[WEIGHTS], "weights", 8, "d", 0, 0) < 0 ||
        get_array(objects[LATENT_TERMS], &v[LATENT_TERMS], "latent_terms", 4, "f", 0, 1) < 0 ||
        get_array(objects[LATENT_CORPUS], &v[LATENT_CORPUS], "latent_corpus", 4, "f", 0, 1) < 0 ||
        get_array(objects[MASK], &v[MASK], "mask", 1, "?", 0, 1) < 0 ||
        get_array(objects[OUT_DOCS], &v[OUT_DOCS], "out_docs", 8, "lq", 1, 0) < 0 ||
        get_array(objects[OUT_SCORES], &v[OUT_SCORES], "out_scores", 8, "d", 1, 0) < 0) {
        release(v, N_VIEWS);
        return NULL;
    }

    const int32_t *indptr = v[INDPTR].buf, *indices = v[INDICES].buf, *terms = v[TERMS].buf;
    const double *data = v[DATA].buf, *weights = v[WEIGHTS].buf;
    const float *latent_terms = v[LATENT_TERMS].buf;
    const float *latent_corpus = v[LATENT_CORPUS].buf;
    const uint8_t *mask = v[MASK].buf;
    int64_t *out_docs = v[OUT_DOCS].buf;
    double *out_scores = v[OUT_SCORES].buf;
    Py_ssize_t n_terms = v[INDPTR].len / 4 - 1, n_postings = v[DATA].len / 8;
    Py_ssize_t n_query = v[TERMS].len / 4, k = v[OUT_DOCS].len / 8;
    int latent = latent_terms != NULL && latent_corpus != NULL;
    Py_ssize_t n_components = 0;
    if (latent) {
        Py_ssize_t n_latent_terms = v[LATENT_TERMS].ndim == 2 ? v[LATENT_TERMS].shape[0] : 0;
        n_components = v[LATENT_TERMS].ndim == 2 ? v[LATENT_TERMS].shape[1] : 0;
        if (n_latent_terms != n_terms || v[LATENT_CORPUS].ndim != 2 || v[LATENT_CORPUS].shape[0] != n_docs ||
            v[LATENT_CORPUS].shape[1] != n_components) {
            PyErr_SetString(PyExc_ValueError, "latent_terms/latent_corpus don't match the index");
            release(v, N_VIEWS);
            return NULL;
        }
    }
    if (n_terms < 0 || v[INDICES].len / 4 != n_postings || v[WEIGHTS].len / 8 != n_query ||
        v[OUT_SCORES].len / 8 != k || (mask && v[MASK].len != n_docs) || n_docs < 0 ||
        n_docs > INT32_MAX || indptr[0] != 0 || indptr[n_terms] != n_postings) {
        PyErr_SetString(PyExc_ValueError, "rank: arrays of inconsistent sizes");
        release(v, N_VIEWS);
        return NULL;
    }
    if (ensure_scratch(n_docs) < 0) {
        release(v, N_VIEWS);
        return NULL;
    }

    /* The query's weights, L2-normalised (a cosine). */
    double *unit_weights = malloc((size_t)(n_query > 0 ? n_query : 1) * sizeof(double));
    if (!unit_weights) {
        release(v, N_VIEWS);
        return PyErr_NoMemory();
    }
    double weights_norm = 0.0;
    for (Py_ssize_t q = 0; q < n_query; q++) weights_norm += weights[q] * weights[q];
    weights_norm = sqrt(weights_norm);
    for (Py_ssize_t q = 0; q < n_query; q++) unit_weights[q] = weights_norm > 0 ? weights[q] / weights_norm : weights[q];

    /* 1. Cosine: postings summed per talk, term by term. With positive
     * weights on a positive index (TF-IDF always is), a talk is new when its
     * sum is still 0; otherwise ``seen`` tells. */
    int positive = positive_index;
    for (Py_ssize_t q = 0; q < n_query; q++) positive = positive && unit_weights[q] > 0;
    /* When the postings could reach a good part of a large corpus, the
     * talks are found afterwards by reading the accumulator in order, which
     * beats jumping around it: no bookkeeping per posting then. */
    Py_ssize_t n_query_postings = 0;
    for (Py_ssize_t q = 0; q < n_query; q++)
        if (terms[q] >= 0 && terms[q] < n_terms) n_query_postings += indptr[terms[q] + 1] - indptr[terms[q]];
    int dense = n_docs >= (1 << 16) && n_query_postings > n_docs / 16;
    Py_ssize_t n_touched = 0;
    const char *error = NULL;
    for (Py_ssize_t q = 0; q < n_query && !error; q++) {
        int32_t term = terms[q];
        if (term < 0 || term >= n_terms) {
            error = "rank: a query term is outside the vocabulary";
            break;
        }
        double weight = unit_weights[q];
        int32_t start = indptr[term], end = indptr[term + 1];
        if (start < 0 || end < start || end > n_postings) {
            error = "rank: the inverted index is corrupt";
            break;
        }
        for (int32_t p = start; p < end; p++) {
            int32_t doc = indices[p];
            if (doc < 0 || doc >= n_docs) {
                error = "rank: the inverted index is corrupt";
                break;
            }
            double contribution = data[p] * weight;
            if (dense) {
                accumulated[doc] += contribution;
                continue;
            }
            if (positive) {
                if (!(contribution > 0.0)) continue;  /* an underflow: adds nothing */
                if (accumulated[doc] == 0.0) touched[n_touched++] = doc;
            } else if (!seen[doc]) {
                seen[doc] = 1;
                touched[n_touched++] = doc;
            }
            accumulated[doc] += contribution;
        }
    }

    /* Only talks with a non-zero sum count (as np.flatnonzero keeps them). */
    Py_ssize_t n_matches = n_touched;
    if (dense) {
        /* Counted below, in the candidates' pass, when there is a re-scoring; not needed otherwise. */
        n_matches = -1;
    } else if (!positive) {
        n_matches = 0;
        for (Py_ssize_t i = 0; i < n_touched; i++) {
            int32_t doc = touched[i];
            seen[doc] = 0;
            if (accumulated[doc] != 0.0) touched[n_matches++] = doc;
            else accumulated[doc] = 0.0;  /* -0.0 back to 0.0 */
        }
    }

/* Runs the statement that follows for each matched talk ``doc``. */
#define FOR_EACH_MATCH(doc)                                                              \
    for (Py_ssize_t i_ = 0, end_ = dense ? n_docs : n_matches; i_ < end_; i_++)          \
        for (int32_t doc = dense ? (int32_t)i_ : touched[i_], once_ = 1; once_; once_ = 0) \
            if (!dense || accumulated[doc] != 0.0)

    Entry *heap = NULL;
    double *latent_query = NULL;
    Py_ssize_t written = 0, n_best = 0, n_marked = 0;
    int rescored = 0;
    if (error) goto done;

    /* 2. Latent re-scoring of the best candidates (matches[0..n_best)),
     * marked in ``seen``. */
    rescored = latent && n_matches != 0 && n_components > 0;
    if (rescored) {
        n_best = n_candidates < 1 ? 1 : n_candidates;
        if (n_matches >= 0 && n_best > n_matches) n_best = n_matches;
        latent_query = calloc((size_t)n_components, sizeof(double));
        if (!latent_query) {
            PyErr_NoMemory();
            goto done;
        }
        if (n_matches < 0 || n_matches > 16 * n_best) {
            /* Many matches: a bounded heap rejects nearly all at one comparison.
             * Dense: the matches are counted in the same pass over the corpus;
             * the heap then holds the best min(n_candidates, n_matches). */
            Best candidates = {matches, 0, n_best};
            Py_ssize_t counted = 0;
            FOR_EACH_MATCH(doc) {
                double score = accumulated[doc];
                counted++;
                if (candidates.size == n_best && score < matches[0].score) continue;  /* the usual case */
                offer(&candidates, score, doc);
            }
            n_matches = counted;
            n_best = candidates.size;
            rescored = n_best > 0;
        } else {
            Py_ssize_t n = 0;
            FOR_EACH_MATCH(doc) matches[n++] = (Entry){accumulated[doc], doc};
            select_best(matches, n_matches, n_best);
        }

        for (Py_ssize_t q = 0; q < n_query; q++) {
            const float *row = latent_terms + (Py_ssize_t)terms[q] * n_components;
            for (Py_ssize_t c = 0; c < n_components; c++)
                latent_query[c] += unit_weights[q] * (double)row[c];
        }
        double norm = 0.0;
        for (Py_ssize_t c = 0; c < n_components; c++) norm += latent_query[c] * latent_query[c];
        norm = sqrt(norm);
        if (norm > 0)
            for (Py_ssize_t c = 0; c < n_components; c++) latent_query[c] /= norm;

        /* A candidate's score: (1 - w) * cosine, then + w * max(latent cosine, 0). */
        for (Py_ssize_t i = 0; i < n_best; i++) {
            int64_t doc = matches[i].doc;
            if (i + 2 < n_best)  /* rows are scattered: ask for the next ones early */
                for (Py_ssize_t c = 0; c < n_components; c += 16)
                    __builtin_prefetch(latent_corpus + matches[i + 2].doc * n_components + c);
            double similarity = dot(latent_corpus + doc * n_components, latent_query, n_components);
            double score = accumulated[doc] * (1.0 - latent_weight);
            score += latent_weight * (similarity > 0.0 ? similarity : 0.0);
            accumulated[doc] = score;
            seen[doc] = 1;
            n_marked++;
        }
    }

    /* 3. The k best talks the mask keeps, scores capped at 1; the others'
     * scores are (1 - w) * cosine when there was a re-scoring. */
    if (k > 0) {
        heap = malloc((size_t)k * sizeof(Entry));
        if (!heap) {
            PyErr_NoMemory();
            goto done;
        }
        Best best = {heap, 0, k};
        /* Without a mask, the k best are usually all re-scored candidates: a
         * talk left out scores (1 - w) * its cosine, at most (1 - w) times the
         * lowest candidate's cosine (rounding keeps the order). When the k-th
         * best candidate beats that strictly, no other talk can reach nor tie
         * it, and the corpus needn't be read again. */
        if (rescored && !mask && k <= n_best) {
            double lowest = matches[0].score;
            for (Py_ssize_t i = 0; i < n_best; i++) {
                lowest = matches[i].score < lowest ? matches[i].score : lowest;
                double score = accumulated[matches[i].doc];
                offer(&best, score < 1.0 ? score : 1.0, matches[i].doc);
            }
            double others = lowest * (1.0 - latent_weight);
            others = others < 1.0 ? others : 1.0;
            if (best.size == k && heap[0].score > others) goto sorted;
            best.size = 0;  /* a tie or better is possible: every talk, below */
        }
        FOR_EACH_MATCH(doc) {
            if (mask && !mask[doc]) continue;
            double score = accumulated[doc];
            if (rescored && !seen[doc]) score *= 1.0 - latent_weight;
            score = score < 1.0 ? score : 1.0;
            if (best.size == k && score < heap[0].score) continue;  /* the usual case */
            offer(&best, score, doc);
        }
    sorted:
        qsort(best.entries, (size_t)best.size, sizeof(Entry), best_first);
        for (Py_ssize_t i = 0; i < best.size; i++) {
            out_docs[i] = best.entries[i].doc;
            out_scores[i] = best.entries[i].score;
        }
        written = best.size;
    }
#undef FOR_EACH_MATCH

done:
    /* Leave the scratch all zeros for the next query. */
    if (dense) memset(accumulated, 0, (size_t)n_docs * sizeof(double));
    else for (Py_ssize_t i = 0; i < n_matches; i++) accumulated[touched[i]] = 0.0;
    for (Py_ssize_t i = 0; i < n_marked; i++) seen[matches[i].doc] = 0;
    free(heap);
    free(latent_query);
    free(unit_weights);
    release(v, N_VIEWS);
    if (error) {
        PyErr_SetString(PyExc_ValueError, error);
        return NULL;
    }
    if (PyErr_Occurred()) return NULL;
    return PyLong_FromSsize_t(written);
}

PyDoc_STRVAR(top_classes_doc,
"top_classes(indptr, indices, data, n_classes, terms, weights, temperature, n) -> (classes, probabilities)\n\n"
"The track classifier's query path (track_classifier.py, TrackClassifier.top): the\n"
"cosines of one query (terms int32, weights float64, L2-normalised here) to the class\n"
"centroids, given term by term as indptr/indices/data (CSR, int32/int32/float64);\n"
"their softmax at ``temperature`` over all n_classes; the ``n`` best classes with a\n"
"cosine > 0 (cosine descending, then class ascending) and their probabilities, as lists.");

static PyObject *top_classes(PyObject *module, PyObject *args) {
    enum { C_INDPTR, C_INDICES, C_DATA, C_TERMS, C_WEIGHTS, C_VIEWS };
    PyObject *objects[C_VIEWS];
    Py_ssize_t n_classes, n;
    double temperature;
    if (!PyArg_ParseTuple(args, "OOOnOOdn:top_classes", &objects[C_INDPTR], &objects[C_INDICES], &objects[C_DATA],
                          &n_classes, &objects[C_TERMS], &objects[C_WEIGHTS], &temperature, &n))
        return NULL;
    Py_buffer v[C_VIEWS];
    memset(v, 0, sizeof v);
    if (get_array(objects[C_INDPTR], &v[C_INDPTR], "indptr", 4, "il", 0, 0) < 0 ||
        get_array(objects[C_INDICES], &v[C_INDICES], "indices", 4, "il", 0, 0) < 0 ||
        get_array(objects[C_DATA], &v[C_DATA], "data", 8, "d", 0, 0) < 0 ||
        get_array(objects[C_TERMS], &v[C_TERMS], "terms", 4, "il", 0, 0) < 0 ||
        get_array(objects[C_WEIGHTS], &v[C_WEIGHTS], "weights", 8, "d", 0, 0) < 0) {
        release(v, C_VIEWS);
        return NULL;
    }
    const int32_t *indptr = v[C_INDPTR].buf, *indices = v[C_INDICES].buf, *terms = v[C_TERMS].buf;
    const double *data = v[C_DATA].buf, *weights = v[C_WEIGHTS].buf;
    Py_ssize_t n_terms = v[C_INDPTR].len / 4 - 1, n_postings = v[C_DATA].len / 8, n_query = v[C_TERMS].len / 4;
    if (n_terms < 0 || v[C_INDICES].len / 4 != n_postings || v[C_WEIGHTS].len / 8 != n_query || n_classes < 0 ||
        n_classes > INT32_MAX || n < 0 || indptr[0] != 0 || indptr[n_terms] != n_postings) {
        PyErr_SetString(PyExc_ValueError, "top_classes: arrays of inconsistent sizes");
        release(v, C_VIEWS);
        return NULL;
    }
    double *cosines = calloc((size_t)(n_classes > 0 ? n_classes : 1), sizeof(double));
    if (!cosines) {
        release(v, C_VIEWS);
        return PyErr_NoMemory();
    }
    const char *error = NULL;
    double norm = 0.0;
    for (Py_ssize_t q = 0; q < n_query; q++) norm += weights[q] * weights[q];
    norm = sqrt(norm);
    /* The postings of a query's terms are a few dozen scattered runs, seldom in
     * cache between requests: ask for all of them first, so their misses overlap. */
    for (Py_ssize_t q = 0; q < n_query; q++)
        if (terms[q] >= 0 && terms[q] < n_terms) __builtin_prefetch(indptr + terms[q]);
    for (Py_ssize_t q = 0; q < n_query; q++) {
        if (terms[q] < 0 || terms[q] >= n_terms) continue;
        int32_t start = indptr[terms[q]];
        if (start < 0 || start >= n_postings) continue;
        __builtin_prefetch(indices + start);
        __builtin_prefetch(data + start);
    }
    for (Py_ssize_t q = 0; q < n_query && !error; q++) {
        int32_t term = terms[q];
        if (term < 0 || term >= n_terms) {
            error = "top_classes: a query term is outside the vocabulary";
            break;
        }
        double weight = norm > 0 ? weights[q] / norm : weights[q];
        int32_t start = indptr[term], end = indptr[term + 1];
        if (start < 0 || end < start || end > n_postings) {
            error = "top_classes: the index is corrupt";
            break;
        }
        for (int32_t p = start; p < end; p++) {
            int32_t class = indices[p];
            if (class < 0 || class >= n_classes) {
                error = "top_classes: the index is corrupt";
                break;
            }
            cosines[class] += data[p] * weight;
        }
    }
    PyObject *classes = NULL, *probabilities = NULL, *result = NULL;
    if (error) goto finish;
    /* The softmax's denominator over every class, shifted by the largest cosine. */
    double largest = 0.0, total = 0.0;
    for (Py_ssize_t c = 0; c < n_classes; c++) largest = cosines[c] > largest ? cosines[c] : largest;
    for (Py_ssize_t c = 0; c < n_classes; c++) total += exp(temperature * (cosines[c] - largest));
    classes = PyList_New(0);
    probabilities = PyList_New(0);
    if (!classes || !probabilities) goto finish;
    /* The n best, one pass each (n is a handful); a chosen class is marked by a cosine of -1. */
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t best = -1;
        for (Py_ssize_t c = 0; c < n_classes; c++)
            if (cosines[c] > 0.0 && (best < 0 || cosines[c] > cosines[best])) best = c;
        if (best < 0) break;
        PyObject *class = PyLong_FromSsize_t(best);
        PyObject *probability = PyFloat_FromDouble(exp(temperature * (cosines[best] - largest)) / total);
        int failed = !class || !probability || PyList_Append(classes, class) < 0 ||
                     PyList_Append(probabilities, probability) < 0;
        Py_XDECREF(class);
        Py_XDECREF(probability);
        if (failed) goto finish;
        cosines[best] = -1.0;
    }
    result = PyTuple_Pack(2, classes, probabilities);
finish:
    Py_XDECREF(classes);
    Py_XDECREF(probabilities);
    free(cosines);
    release(v, C_VIEWS);
    if (error) PyErr_SetString(PyExc_ValueError, error);
    return result;
}

/* Per-term scratch of ``explain`` and ``row_dots``: the query's weight of each
 * term and whether the query has it, scattered before and cleared after each
 * call (only the query's own terms), so a call costs its rows, not the vocabulary. */
static double *term_weights = NULL;
static uint8_t *term_present = NULL;
static Py_ssize_t term_scratch_size = 0;

static int ensure_term_scratch(Py_ssize_t n_terms) {
    if (n_terms <= term_scratch_size) return 0;
    double *new_weights = calloc((size_t)n_terms, sizeof(double));
    uint8_t *new_present = calloc((size_t)n_terms, 1);
    if (!new_weights || !new_present) {
        free(new_weights);
        free(new_present);
        PyErr_NoMemory();
        return -1;
    }
    free(term_weights);
    free(term_present);
    term_weights = new_weights;
    term_present = new_present;
    term_scratch_size = n_terms;
    return 0;
}

/* Checks shared by ``explain`` and ``row_dots``: a CSR matrix with n_rows rows
 * whose columns are terms < n_terms, rows ``documents`` among them, query ``terms``
 * < n_terms. Returns an error message, or NULL. */
static const char *check_rows(const int32_t *indptr, Py_ssize_t n_rows, Py_ssize_t n_entries,
                              const int64_t *documents, Py_ssize_t n_documents,
                              const int32_t *terms, Py_ssize_t n_query, Py_ssize_t n_terms) {
    if (n_rows < 0 || n_terms < 0 || indptr[0] != 0 || indptr[n_rows] != n_entries)
        return "arrays of inconsistent sizes";
    for (Py_ssize_t q = 0; q < n_query; q++)
        if (terms[q] < 0 || terms[q] >= n_terms) return "a query term is outside the vocabulary";
    for (Py_ssize_t i = 0; i < n_documents; i++) {
        int64_t doc = documents[i];
        if (doc < 0 || doc >= n_rows) return "a document is outside the matrix";
        if (indptr[doc] < 0 || indptr[doc + 1] < indptr[doc] || indptr[doc + 1] > n_entries)
            return "the matrix is corrupt";
    }
    return NULL;
}

static void scatter_query(const int32_t *terms, const double *weights, Py_ssize_t n_query) {
    for (Py_ssize_t q = 0; q < n_query; q++) {
        term_weights[terms[q]] = weights[q];
        term_present[terms[q]] = 1;
    }
}

static void clear_query(const int32_t *terms, Py_ssize_t n_query) {
    for (Py_ssize_t q = 0; q < n_query; q++) {
        term_weights[terms[q]] = 0.0;
        term_present[terms[q]] = 0;
    }
}

typedef struct {
    double share;
    int32_t term;
} Share;

/* a comes before b: a larger share, or the same share and a lower term. */
static inline int heavier(const Share *a, const Share *b) {
    return a->share > b->share || (a->share == b->share && a->term < b->term);
}

PyDoc_STRVAR(explain_doc,
"explain(indptr, indices, data, n_terms, documents, terms, weights, scale, n) -> list\n\n"
"Why each of ``documents`` (int64 rows of the corpus matrix indptr/indices/data, CSR,\n"
"int32/int32/float64) matched the query ``terms`` (int32) with ``weights`` (float64),\n"
"each counting ``weight * scale``: per document, a list of its ``n`` heaviest shared\n"
"terms as ``(term, weight * scale * value)`` tuples, heaviest first, ties by term,\n"
"shares of 0 left out (CosineSimilaritiesEstimator.explain's answer, which tests hold it to).");

static PyObject *explain(PyObject *module, PyObject *args) {
    enum { E_INDPTR, E_INDICES, E_DATA, E_DOCUMENTS, E_TERMS, E_WEIGHTS, E_VIEWS };
    PyObject *objects[E_VIEWS];
    Py_ssize_t n_terms, n;
    double scale;
    if (!PyArg_ParseTuple(args, "OOOnOOOdn:explain", &objects[E_INDPTR], &objects[E_INDICES], &objects[E_DATA],
                          &n_terms, &objects[E_DOCUMENTS], &objects[E_TERMS], &objects[E_WEIGHTS], &scale, &n))
        return NULL;
    Py_buffer v[E_VIEWS];
    memset(v, 0, sizeof v);
    if (get_array(objects[E_INDPTR], &v[E_INDPTR], "indptr", 4, "il", 0, 0) < 0 ||
        get_array(objects[E_INDICES], &v[E_INDICES], "indices", 4, "il", 0, 0) < 0 ||
        get_array(objects[E_DATA], &v[E_DATA], "data", 8, "d", 0, 0) < 0 ||
        get_array(objects[E_DOCUMENTS], &v[E_DOCUMENTS], "documents", 8, "lq", 0, 0) < 0 ||
        get_array(objects[E_TERMS], &v[E_TERMS], "terms", 4, "il", 0, 0) < 0 ||
        get_array(objects[E_WEIGHTS], &v[E_WEIGHTS], "weights", 8, "d", 0, 0) < 0) {
        release(v, E_VIEWS);
        return NULL;
    }
    const int32_t *indptr = v[E_INDPTR].buf, *indices = v[E_INDICES].buf, *terms = v[E_TERMS].buf;
    const double *data = v[E_DATA].buf, *weights = v[E_WEIGHTS].buf;
    const int64_t *documents = v[E_DOCUMENTS].buf;
    Py_ssize_t n_rows = v[E_INDPTR].len / 4 - 1, n_entries = v[E_DATA].len / 8;
    Py_ssize_t n_documents = v[E_DOCUMENTS].len / 8, n_query = v[E_TERMS].len / 4;
    const char *error = NULL;
    if (v[E_INDICES].len / 4 != n_entries || v[E_WEIGHTS].len / 8 != n_query || n < 0)
        error = "arrays of inconsistent sizes";
    else
        error = check_rows(indptr, n_rows, n_entries, documents, n_documents, terms, n_query, n_terms);
    if (error) {
        PyErr_Format(PyExc_ValueError, "explain: %s", error);
        release(v, E_VIEWS);
        return NULL;
    }
    if (ensure_term_scratch(n_terms) < 0) {
        release(v, E_VIEWS);
        return NULL;
    }
    Share *best = malloc((size_t)(n > 0 ? n : 1) * sizeof(Share));
    PyObject *answer = best ? PyList_New(n_documents) : PyErr_NoMemory();
    if (!answer) {
        free(best);
        release(v, E_VIEWS);
        return NULL;
    }
    /* As Python computes it: (weight * scale) * value, two roundings. */
    for (Py_ssize_t q = 0; q < n_query; q++) {
        term_weights[terms[q]] = weights[q] * scale;
        term_present[terms[q]] = 1;
    }
    for (Py_ssize_t i = 0; i < n_documents; i++) {
        /* The n heaviest shared terms, kept sorted by insertion (n is a handful). */
        Py_ssize_t kept = 0;
        for (int32_t p = indptr[documents[i]]; p < indptr[documents[i] + 1]; p++) {
            int32_t term = indices[p];
            if (term < 0 || term >= n_terms) {
                error = "the matrix is corrupt";
                break;
            }
            if (!term_present[term]) continue;
            Share share = {term_weights[term] * data[p], term};
            if (kept == n && (n == 0 || !heavier(&share, &best[n - 1]))) continue;
            Py_ssize_t at = kept < n ? kept++ : n - 1;
            while (at > 0 && heavier(&share, &best[at - 1])) {
                best[at] = best[at - 1];
                at--;
            }
            best[at] = share;
        }
        if (error) break;
        PyObject *shares = PyList_New(0);
        if (!shares) break;
        PyList_SET_ITEM(answer, i, shares);
        for (Py_ssize_t j = 0; j < kept; j++) {
            if (best[j].share == 0.0) continue;  /* adds nothing to the score */
            PyObject *term = PyLong_FromLong(best[j].term), *value = PyFloat_FromDouble(best[j].share);
            PyObject *pair = term && value ? PyTuple_Pack(2, term, value) : NULL;
            Py_XDECREF(term);
            Py_XDECREF(value);
            if (!pair || PyList_Append(shares, pair) < 0) {
                Py_XDECREF(pair);
                break;
            }
            Py_DECREF(pair);
        }
        if (PyErr_Occurred()) break;
    }
    clear_query(terms, n_query);
    free(best);
    release(v, E_VIEWS);
    if (error) PyErr_Format(PyExc_ValueError, "explain: %s", error);
    if (PyErr_Occurred()) {
        Py_DECREF(answer);
        return NULL;
    }
    return answer;
}

PyDoc_STRVAR(row_dots_doc,
"row_dots(indptr, indices, data, n_terms, documents, query, out) -> None\n\n"
"The dot product of ``query`` (a dict {term: weight}, int keys, float values) with each\n"
"of the rows ``documents`` (int64) of a CSR matrix (int32/int32/float32), in double\n"
"precision, written to ``out`` (float64, one per document): the same-talk detector's\n"
"field cosines of the returned talks (same_talk.py).");

static PyObject *row_dots(PyObject *module, PyObject *args) {
    enum { D_INDPTR, D_INDICES, D_DATA, D_DOCUMENTS, D_OUT, D_VIEWS };
    PyObject *objects[D_VIEWS], *query;
    Py_ssize_t n_terms;
    if (!PyArg_ParseTuple(args, "OOOnOO!O:row_dots", &objects[D_INDPTR], &objects[D_INDICES], &objects[D_DATA],
                          &n_terms, &objects[D_DOCUMENTS], &PyDict_Type, &query, &objects[D_OUT]))
        return NULL;
    Py_buffer v[D_VIEWS];
    memset(v, 0, sizeof v);
    if (get_array(objects[D_INDPTR], &v[D_INDPTR], "indptr", 4, "il", 0, 0) < 0 ||
        get_array(objects[D_INDICES], &v[D_INDICES], "indices", 4, "il", 0, 0) < 0 ||
        get_array(objects[D_DATA], &v[D_DATA], "data", 4, "f", 0, 0) < 0 ||
        get_array(objects[D_DOCUMENTS], &v[D_DOCUMENTS], "documents", 8, "lq", 0, 0) < 0 ||
        get_array(objects[D_OUT], &v[D_OUT], "out", 8, "d", 1, 0) < 0) {
        release(v, D_VIEWS);
        return NULL;
    }
    const int32_t *indptr = v[D_INDPTR].buf, *indices = v[D_INDICES].buf;
    const float *data = v[D_DATA].buf;
    const int64_t *documents = v[D_DOCUMENTS].buf;
    double *out = v[D_OUT].buf;
    Py_ssize_t n_rows = v[D_INDPTR].len / 4 - 1, n_entries = v[D_DATA].len / 4;
    Py_ssize_t n_documents = v[D_DOCUMENTS].len / 8, n_query = PyDict_Size(query);
    int32_t *terms = malloc((size_t)(n_query > 0 ? n_query : 1) * sizeof(int32_t));
    double *weights = malloc((size_t)(n_query > 0 ? n_query : 1) * sizeof(double));
    const char *error = NULL;
    if (!terms || !weights) {
        PyErr_NoMemory();
        goto finish;
    }
    PyObject *key, *value;
    Py_ssize_t position = 0, q = 0;
    while (PyDict_Next(query, &position, &key, &value)) {
        long term = PyLong_AsLong(key);
        double weight = PyFloat_AsDouble(value);
        if (PyErr_Occurred()) goto finish;
        if (term < 0 || term >= n_terms) {
            error = "a query term is outside the vocabulary";
            goto finish;
        }
        terms[q] = (int32_t)term;
        weights[q++] = weight;
    }
    if (v[D_INDICES].len / 4 != n_entries || v[D_OUT].len / 8 != n_documents)
        error = "arrays of inconsistent sizes";
    else
        error = check_rows(indptr, n_rows, n_entries, documents, n_documents, terms, n_query, n_terms);
    if (error || ensure_term_scratch(n_terms) < 0) goto finish;
    scatter_query(terms, weights, n_query);
    for (Py_ssize_t i = 0; i < n_documents && !error; i++) {
        double sum = 0.0;
        for (int32_t p = indptr[documents[i]]; p < indptr[documents[i] + 1]; p++) {
            int32_t term = indices[p];
            if (term < 0 || term >= n_terms) {
                error = "the matrix is corrupt";
                break;
            }
            sum += (double)data[p] * term_weights[term];
        }
        out[i] = sum;
    }
    clear_query(terms, n_query);
finish:
    free(terms);
    free(weights);
    release(v, D_VIEWS);
    if (error) PyErr_Format(PyExc_ValueError, "row_dots: %s", error);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(predictions_doc,
"predictions(columns, term_names, indices, scores, explanations, same_talks) -> list\n\n"
"The answer dicts of a ranking (answers.py, Answers.predictions, whose plain Python\n"
"tests hold this to): per talk ``indices[i]`` (ints), a dict of its fields (``columns``:\n"
"a list of (name, values by talk) pairs, values lists) plus ``score`` (scores[i]),\n"
"``index``, ``terms`` ([{\"term\": term_names[term], \"weight\": share}, ...] from\n"
"explanations[i], a list of (term, share) pairs) and ``same_talk`` (same_talks[i]).");

static PyObject *key_score, *key_index, *key_terms, *key_same_talk, *key_term, *key_weight;

static PyObject *predictions(PyObject *module, PyObject *args) {
    PyObject *columns, *names, *indices, *scores, *explanations, *same_talks;
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!:predictions", &PyList_Type, &columns, &PyList_Type, &names,
                          &PyList_Type, &indices, &PyList_Type, &scores, &PyList_Type, &explanations,
                          &PyList_Type, &same_talks))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(indices), n_columns = PyList_GET_SIZE(columns), n_names = PyList_GET_SIZE(names);
    if (PyList_GET_SIZE(scores) != n || PyList_GET_SIZE(explanations) != n || PyList_GET_SIZE(same_talks) != n) {
        PyErr_SetString(PyExc_ValueError, "predictions: lists of different lengths");
        return NULL;
    }
    for (Py_ssize_t c = 0; c < n_columns; c++) {
        PyObject *column = PyList_GET_ITEM(columns, c);
        if (!PyTuple_Check(column) || PyTuple_GET_SIZE(column) != 2 || !PyList_Check(PyTuple_GET_ITEM(column, 1))) {
            PyErr_SetString(PyExc_TypeError, "predictions: columns must be (name, list) pairs");
            return NULL;
        }
    }
    PyObject *answer = PyList_New(n);
    if (!answer) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *index = PyList_GET_ITEM(indices, i);
        Py_ssize_t row = PyLong_AsSsize_t(index);
        if (row == -1 && PyErr_Occurred()) goto fail;
        PyObject *prediction = PyDict_New();
        if (!prediction) goto fail;
        PyList_SET_ITEM(answer, i, prediction);
        for (Py_ssize_t c = 0; c < n_columns; c++) {
            PyObject *column = PyList_GET_ITEM(columns, c), *values = PyTuple_GET_ITEM(column, 1);
            if (row < 0 || row >= PyList_GET_SIZE(values)) {
                PyErr_SetString(PyExc_IndexError, "predictions: a talk is outside the columns");
                goto fail;
            }
            if (PyDict_SetItem(prediction, PyTuple_GET_ITEM(column, 0), PyList_GET_ITEM(values, row)) < 0) goto fail;
        }
        PyObject *shared = PyList_GET_ITEM(explanations, i);
        if (!PyList_Check(shared)) {
            PyErr_SetString(PyExc_TypeError, "predictions: an explanation is not a list");
            goto fail;
        }
        Py_ssize_t n_shared = PyList_GET_SIZE(shared);
        PyObject *terms = PyList_New(n_shared);
        if (!terms) goto fail;
        int failed = PyDict_SetItem(prediction, key_score, PyList_GET_ITEM(scores, i)) < 0 ||
                     PyDict_SetItem(prediction, key_index, index) < 0 ||
                     PyDict_SetItem(prediction, key_terms, terms) < 0 ||
                     PyDict_SetItem(prediction, key_same_talk, PyList_GET_ITEM(same_talks, i)) < 0;
        Py_DECREF(terms);  /* the prediction holds it */
        if (failed) goto fail;
        for (Py_ssize_t j = 0; j < n_shared; j++) {
            PyObject *pair = PyList_GET_ITEM(shared, j);
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
                PyErr_SetString(PyExc_TypeError, "predictions: an explanation's item is not a (term, share) pair");
                goto fail;
            }
            Py_ssize_t term = PyLong_AsSsize_t(PyTuple_GET_ITEM(pair, 0));
            if (term == -1 && PyErr_Occurred()) goto fail;
            if (term < 0 || term >= n_names) {
                PyErr_SetString(PyExc_IndexError, "predictions: a term is outside the vocabulary");
                goto fail;
            }
            PyObject *item = PyDict_New();
            if (!item) goto fail;
            PyList_SET_ITEM(terms, j, item);
            if (PyDict_SetItem(item, key_term, PyList_GET_ITEM(names, term)) < 0 ||
                PyDict_SetItem(item, key_weight, PyTuple_GET_ITEM(pair, 1)) < 0)
                goto fail;
        }
    }
    return answer;
fail:
    Py_DECREF(answer);
    return NULL;
}

static PyMethodDef methods[] = {
    {"rank", rank, METH_VARARGS, rank_doc},
    {"top_classes", top_classes, METH_VARARGS, top_classes_doc},
    {"explain", explain, METH_VARARGS, explain_doc},
    {"row_dots", row_dots, METH_VARARGS, row_dots_doc},
    {"predictions", predictions, METH_VARARGS, predictions_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ranking",
    "The ranking hot loop in C; see CosineSimilaritiesEstimator.rank.", -1, methods,
};

PyMODINIT_FUNC PyInit__ranking(void) {
    if (!(key_score = PyUnicode_InternFromString("score")) || !(key_index = PyUnicode_InternFromString("index")) ||
        !(key_terms = PyUnicode_InternFromString("terms")) ||
        !(key_same_talk = PyUnicode_InternFromString("same_talk")) ||
        !(key_term = PyUnicode_InternFromString("term")) || !(key_weight = PyUnicode_InternFromString("weight")))
        return NULL;
    return PyModule_Create(&module);
}
