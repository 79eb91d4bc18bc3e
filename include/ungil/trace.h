/* ungil/trace.h - a timeline of who ran what, when.
 *
 * A trace collects events: a label, a start and an end on the monotonic
 * clock, and one 64-bit argument (a byte count, an index).  Each thread
 * records into its own lane, a chain of fixed-size blocks that only that
 * thread appends to, so recording takes no lock: the cost is two clock
 * reads and a store.  Code that may trace keeps a `ug_trace *` that is NULL
 * when tracing is off, so the off case costs one branch.
 *
 * Writers render the events as Chrome trace JSON (opens in Perfetto and
 * chrome://tracing) or as a standalone SVG timeline with one lane per thread
 * and one labelled bar per event ("starts at 0.10 s, takes 0.50 s").
 *
 * Ownership: the trace owns its lanes, labels and events; ug_trace_free
 * releases everything.  It must outlive every pool or job recording into it.
 *
 * Thread-safety: ug_trace_record, ug_trace_label and ug_trace_name_thread
 * may be called from any thread at any time.  Readers (ug_trace_count,
 * ug_trace_foreach and the writers) may run while others record: they see
 * every event published before they started.  ug_trace_clear and
 * ug_trace_free need every recording thread to have stopped.
 */
#ifndef UNGIL_TRACE_H
#define UNGIL_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ug_trace ug_trace;

/* One recorded event, as readers see it.  `lane_name` and `label` are owned
 * by the trace.  Times are nanoseconds since the trace was created. */
typedef struct ug_trace_event {
    unsigned lane;         /* index of the recording thread's lane, from 0 */
    const char *lane_name; /* "worker 0", or "thread N" if never named */
    const char *label;     /* what ran: "task", "parallel_for", a function */
    uint64_t start_ns;
    uint64_t end_ns;
    uint64_t arg;          /* free for the recorder: bytes, an index */
} ug_trace_event;

/* Nanoseconds on the monotonic clock (CLOCK_MONOTONIC).  Thread-safe. */
uint64_t ug_clock_ns(void);

/* Creates an empty trace whose time origin is now.  Returns 0 and sets
 * *out, or UG_ENOMEM.  Free with ug_trace_free. */
int ug_trace_new(ug_trace **out);

/* Frees the trace and everything it recorded.  NULL is harmless.  No thread
 * may be recording into it. */
void ug_trace_free(ug_trace *trace);

/* Interns `label` and returns its id, to pass to ug_trace_record.  The same
 * text always gives the same id.  Id 0 is the label "task", also returned
 * when memory runs out.  Takes a lock: call it once per kind of work, not
 * once per event. */
uint32_t ug_trace_label(ug_trace *trace, const char *label);

/* Names the calling thread's lane ("worker 3").  The name is copied.  A
 * thread that records without naming itself gets "thread N".  Returns 0 or
 * UG_ENOMEM. */
int ug_trace_name_thread(ug_trace *trace, const char *name);

/* Records one event on the calling thread's lane.  `start_ns` and `end_ns`
 * come from ug_clock_ns.  Lock-free after the thread's first event; an event
 * that cannot be stored for lack of memory is dropped and counted (see
 * ug_trace_dropped). */
void ug_trace_record(ug_trace *trace, uint32_t label, uint64_t start_ns,
                     uint64_t end_ns, uint64_t arg);

/* A lane that belongs to no thread, for code that draws several things at
 * once from one thread (the fetch engine draws each transfer slot as a
 * lane).  Returns the lane named `name`, created on first use and owned by
 * the trace, or NULL when memory runs out.  Takes the trace's lock. */
typedef struct ug_trace_lane ug_trace_lane;
ug_trace_lane *ug_trace_named_lane(ug_trace *trace, const char *name);

/* Records one event on `lane` (from ug_trace_named_lane).  Lock-free; only
 * one thread at a time may record into a given lane. */
void ug_trace_record_lane(ug_trace *trace, ug_trace_lane *lane, uint32_t label,
                          uint64_t start_ns, uint64_t end_ns, uint64_t arg);

/* Number of events recorded so far, and number dropped for lack of memory. */
size_t ug_trace_count(ug_trace *trace);
size_t ug_trace_dropped(ug_trace *trace);

/* Number of lanes (threads that recorded or were named). */
unsigned ug_trace_lanes(ug_trace *trace);

/* Calls `fn` for every event, lane by lane, each lane in recording order.
 * Stops early and returns fn's value when fn returns non-zero; returns 0
 * otherwise.  `ev` is valid only during the call. */
int ug_trace_foreach(ug_trace *trace,
                     int (*fn)(const ug_trace_event *ev, void *ctx), void *ctx);

/* Forgets every event (lanes and labels stay).  No thread may be recording. */
void ug_trace_clear(ug_trace *trace);

/* Writes Chrome trace JSON ("traceEvents", complete "X" events, one tid per
 * lane, microsecond times) to `out`.  Returns 0 or UG_EIO. */
int ug_trace_write_json(ug_trace *trace, FILE *out);

/* Writes a standalone SVG timeline: one lane per thread, one bar per event
 * labelled with its label, start and duration when it is wide enough, and a
 * time axis in seconds; rows sorted by thread name.  Bars thinner than a
 * pixel are merged so that a million events still give a small file.
 * Returns 0, UG_ENOMEM or UG_EIO. */
int ug_trace_write_svg(ug_trace *trace, FILE *out, const char *title);

/* Writes the trace to `path`, as SVG when the name ends in ".svg" and as
 * JSON when it ends in ".json".  The file appears complete or not at all
 * (written to a temporary name, then renamed).  Returns 0, UG_EINVAL for
 * another extension, UG_ENOMEM or UG_EIO. */
int ug_trace_save(ug_trace *trace, const char *path, const char *title);

#ifdef __cplusplus
}
#endif

#endif
