/* facegate: which declarations the shared library exports (C and C++).
 *
 * The library is compiled with -fvisibility=hidden: only what these macros mark is in its
 * dynamic symbol table. The C functions carry FACEGATE_API one by one; each public C++ header
 * wraps its namespace body in FACEGATE_PUBLIC_BEGIN/END, so a declaration added there is
 * exported without further ado, and the forward declarations of internal types that the public
 * classes hold by pointer sit in FACEGATE_INTERNAL_BEGIN/END (hidden again), as do the private
 * State types and constructors of public classes (FACEGATE_HIDDEN). Internals in lib/ stay
 * hidden. A compiler without GCC's visibility attributes gets empty macros. */
#ifndef FACEGATE_EXPORT_H
#define FACEGATE_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
/// Exports one declaration of the public API from the shared library.
#define FACEGATE_API __attribute__((visibility("default")))
/// Hides one member of a public class: the private implementation types and constructors.
#define FACEGATE_HIDDEN __attribute__((visibility("hidden")))
/// Opens a region of public C++ declarations: exported from the shared library.
#define FACEGATE_PUBLIC_BEGIN _Pragma("GCC visibility push(default)")
/// Closes a region opened by FACEGATE_PUBLIC_BEGIN or FACEGATE_INTERNAL_BEGIN.
#define FACEGATE_PUBLIC_END _Pragma("GCC visibility pop")
/// Opens a region of internal declarations inside a public one: hidden again.
#define FACEGATE_INTERNAL_BEGIN _Pragma("GCC visibility push(hidden)")
/// Closes a region opened by FACEGATE_INTERNAL_BEGIN.
#define FACEGATE_INTERNAL_END _Pragma("GCC visibility pop")
#else
#define FACEGATE_API
#define FACEGATE_HIDDEN
#define FACEGATE_PUBLIC_BEGIN
#define FACEGATE_PUBLIC_END
#define FACEGATE_INTERNAL_BEGIN
#define FACEGATE_INTERNAL_END
#endif

#endif /* FACEGATE_EXPORT_H */
