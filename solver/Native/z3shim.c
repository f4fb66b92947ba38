/*
 * z3shim: lets the Microsoft.Z3 4.12.2 managed API run on the libz3 Linux distributions ship (4.8.12).
 *
 * Built against the system libz3 (DT_NEEDED libz3.so.4), so every Z3 function the managed API asks for is
 * found through this library's own dependency: the .NET DllImport resolver hands this shim out for "libz3".
 * Two things are defined here, and they win over libz3's because dlsym searches the shim before its
 * dependencies:
 *
 *  - Z3_enable_concurrent_dec_ref: added in Z3 4.11; the 4.12.2 Context constructor calls it. 4.8.12 lacks it
 *    (EntryPointNotFoundException). A no-op: this library never lets dec_ref run concurrently, see below.
 *
 *  - every *_dec_ref the managed API imports: no-ops. The managed wrappers call them from the GC finalizer
 *    thread, which 4.8.12 does not survive (measured: SIGSEGV). Dropping them is safe because no reference
 *    count then ever reaches zero inside a context; Z3_del_context frees everything the context owns at once,
 *    and a dec_ref arriving after that would have touched freed memory anyway. The cost is memory held until
 *    the context is deleted: each ctmodel query uses one short-lived context.
 */
#define NOOP_DEC_REF(name) void name(void *c, void *o) { (void)c; (void)o; }

void Z3_enable_concurrent_dec_ref(void *c) { (void)c; }

void Z3_dec_ref(void *c, void *a) { (void)c; (void)a; }
NOOP_DEC_REF(Z3_apply_result_dec_ref)
NOOP_DEC_REF(Z3_ast_map_dec_ref)
NOOP_DEC_REF(Z3_ast_vector_dec_ref)
NOOP_DEC_REF(Z3_fixedpoint_dec_ref)
NOOP_DEC_REF(Z3_func_entry_dec_ref)
NOOP_DEC_REF(Z3_func_interp_dec_ref)
NOOP_DEC_REF(Z3_goal_dec_ref)
NOOP_DEC_REF(Z3_model_dec_ref)
NOOP_DEC_REF(Z3_optimize_dec_ref)
NOOP_DEC_REF(Z3_param_descrs_dec_ref)
NOOP_DEC_REF(Z3_params_dec_ref)
NOOP_DEC_REF(Z3_parser_context_dec_ref)
NOOP_DEC_REF(Z3_probe_dec_ref)
NOOP_DEC_REF(Z3_simplifier_dec_ref)
NOOP_DEC_REF(Z3_solver_dec_ref)
NOOP_DEC_REF(Z3_stats_dec_ref)
NOOP_DEC_REF(Z3_tactic_dec_ref)

/* Marks the shim so the loader can tell it from a plain libz3. */
int ctmodel_z3shim_version(void) { return 1; }
