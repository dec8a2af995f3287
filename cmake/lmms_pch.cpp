// Compiles the shared precompiled header (cmake/lmms_pch.hpp) once per build tree.
