# cmake/lmms.cmake: everything a build of lmms recipes needs, in-tree or installed.
#
# Defines
#   lmms::lmms        INTERFACE target: include dirs, C++20, Torch, json, stb, FFmpeg flags
#   lmms_runtime      OBJECT library: the heavy non-template code, compiled once per build tree
#                     (cmake/lmms_runtime.cpp defines LMMS_IMPLEMENTATION)
#   lmms_pch          OBJECT library owning the shared precompiled header (cmake/lmms_pch.hpp)
#   lmms_add_recipe(NAME file.cpp)  a trainer binary at ${LMMS_BIN_DIR}/NAME
#
# Torch: the libtorch inside the PyPI torch wheel. Point CMake at it with
#   -DCMAKE_PREFIX_PATH="$(python -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
# By default (LMMS_CUDA=OFF) lmms links only libtorch_cpu and libc10 of that wheel, which
# skips the CUDA toolkit probing of TorchConfig.cmake; LMMS_CUDA=ON uses find_package(Torch)
# and builds the CUDA path.
include_guard(GLOBAL)

get_filename_component(LMMS_ROOT "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
if(EXISTS "${CMAKE_CURRENT_LIST_DIR}/../include/lmms/lmms.hpp")
  set(LMMS_INCLUDE_DIR "${LMMS_ROOT}/include")
else()  # installed layout: <prefix>/lib/cmake/lmms/lmms.cmake, headers in <prefix>/include
  get_filename_component(LMMS_INCLUDE_DIR "${CMAKE_CURRENT_LIST_DIR}/../../../include" ABSOLUTE)
endif()
set(LMMS_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}")

option(LMMS_CUDA "Build the CUDA path (find_package(Torch) with the CUDA toolkit)" OFF)
# A cache variable so that lmms_add_recipe() sees it from any directory scope.
set(LMMS_BIN_DIR "${CMAKE_BINARY_DIR}/bin" CACHE PATH "Where lmms_add_recipe() puts trainer binaries")

set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)

find_program(LMMS_CCACHE ccache)
if(LMMS_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  # ccache only hits with precompiled headers when told these sloppinesses are fine;
  # CCACHE_BASEDIR makes paths relative so that two clones share cache entries.
  set(CMAKE_CXX_COMPILER_LAUNCHER "${CMAKE_COMMAND}" -E env
      "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
      "CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}" "${LMMS_CCACHE}")
endif()

# ---- libtorch -------------------------------------------------------------------------
if(NOT TARGET lmms_torch)
  if(LMMS_CUDA)
    find_package(Torch REQUIRED)
    add_library(lmms_torch INTERFACE)
    target_link_libraries(lmms_torch INTERFACE ${TORCH_LIBRARIES})
  else()
    unset(LMMS_TORCH_CONFIG CACHE)  # re-found each configure, so a new venv is picked up
    find_file(LMMS_TORCH_CONFIG TorchConfig.cmake PATH_SUFFIXES Torch share/cmake/Torch
              DOC "TorchConfig.cmake of the torch wheel")
    if(NOT LMMS_TORCH_CONFIG)
      message(FATAL_ERROR "lmms: libtorch not found; pass -DCMAKE_PREFIX_PATH=$(python -c "
              "'import torch.utils; print(torch.utils.cmake_prefix_path)') or run scripts/setup.sh")
    endif()
    get_filename_component(LMMS_TORCH_ROOT "${LMMS_TORCH_CONFIG}/../../../.." ABSOLUTE)
    add_library(lmms_torch INTERFACE)
    target_include_directories(lmms_torch SYSTEM INTERFACE
      "${LMMS_TORCH_ROOT}/include" "${LMMS_TORCH_ROOT}/include/torch/csrc/api/include")
    target_link_libraries(lmms_torch INTERFACE
      "${LMMS_TORCH_ROOT}/lib/libtorch_cpu.so" "${LMMS_TORCH_ROOT}/lib/libc10.so")
    # The wheels are built with the C++11 ABI; the binaries find the .so files via RPATH.
    target_compile_definitions(lmms_torch INTERFACE _GLIBCXX_USE_CXX11_ABI=1)
    set_property(TARGET lmms_torch PROPERTY INTERFACE_LINK_OPTIONS "-Wl,-rpath,${LMMS_TORCH_ROOT}/lib")
  endif()
endif()

# ---- other dependencies (Debian packages) ----------------------------------------------
find_package(nlohmann_json 3 REQUIRED)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(LMMS_PCRE2 REQUIRED IMPORTED_TARGET GLOBAL libpcre2-8)  # pre-tokenizer regexes
find_package(ICU REQUIRED COMPONENTS uc)                                   # Unicode normalization
pkg_check_modules(LMMS_FFMPEG REQUIRED IMPORTED_TARGET GLOBAL libavformat libavcodec libswscale libavutil)  # videos
find_package(JPEG REQUIRED)  # libjpeg-turbo: JPEG decoded as PIL decodes it
pkg_check_modules(LMMS_DEFLATE REQUIRED IMPORTED_TARGET GLOBAL libdeflate)  # PNG's inflate (media/png.hpp)

# What the torch-free parts of lmms (core, io, text) link: usable without libtorch.
if(NOT TARGET lmms_notorch_deps)
  add_library(lmms_notorch_deps INTERFACE)
  target_link_libraries(lmms_notorch_deps INTERFACE nlohmann_json::nlohmann_json Threads::Threads
                        PkgConfig::LMMS_PCRE2 ICU::uc PkgConfig::LMMS_FFMPEG JPEG::JPEG PkgConfig::LMMS_DEFLATE)
endif()

# ---- the library -----------------------------------------------------------------------
if(NOT TARGET lmms::lmms)
  add_library(lmms_headers INTERFACE)
  add_library(lmms::lmms ALIAS lmms_headers)
  target_include_directories(lmms_headers INTERFACE "${LMMS_INCLUDE_DIR}")
  target_compile_features(lmms_headers INTERFACE cxx_std_20)
  target_link_libraries(lmms_headers INTERFACE lmms_torch lmms_notorch_deps)
endif()

# The shared precompiled header: std, torch and json, used by every torch TU of the tree.
if(NOT TARGET lmms_pch)
  add_library(lmms_pch OBJECT "${LMMS_CMAKE_DIR}/lmms_pch.cpp")
  target_link_libraries(lmms_pch PUBLIC lmms::lmms)
  target_precompile_headers(lmms_pch PRIVATE "${LMMS_CMAKE_DIR}/lmms_pch.hpp")
endif()

# The heavy non-template code, compiled once per build tree.
if(NOT TARGET lmms_runtime)
  add_library(lmms_runtime OBJECT "${LMMS_CMAKE_DIR}/lmms_runtime.cpp")
  target_link_libraries(lmms_runtime PUBLIC lmms::lmms)
  target_precompile_headers(lmms_runtime REUSE_FROM lmms_pch)
endif()

# lmms_add_recipe(NAME file.cpp [more.cpp ...])
#   Builds the trainer binary ${LMMS_BIN_DIR}/NAME from a recipe file, reusing the shared
#   precompiled header and runtime objects of this build tree.
function(lmms_add_recipe name)
  if(ARGC LESS 2)
    message(FATAL_ERROR "lmms: lmms_add_recipe(${name}) needs a source file: lmms_add_recipe(${name} my_recipe.cpp)")
  endif()
  # the recipe's source and git commit, for the resolved recipe (a generated TU, so the shared
  # precompiled header sees the same flags in every recipe)
  list(GET ARGN 0 recipe_source)
  get_filename_component(recipe_source "${recipe_source}" ABSOLUTE)
  set(recipe_commit "")
  find_package(Git QUIET)
  if(GIT_FOUND)
    get_filename_component(recipe_dir "${recipe_source}" DIRECTORY)
    execute_process(COMMAND "${GIT_EXECUTABLE}" rev-parse HEAD WORKING_DIRECTORY "${recipe_dir}"
                    OUTPUT_VARIABLE recipe_commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  endif()
  set(provenance "${CMAKE_CURRENT_BINARY_DIR}/${name}_provenance.cpp")
  file(CONFIGURE OUTPUT "${provenance}" CONTENT
       "// generated by lmms_add_recipe(${name})\nnamespace lmms::recipe { bool set_provenance(const char*, const char*); }\nstatic const bool lmms_provenance = lmms::recipe::set_provenance(\"@recipe_source@\", \"@recipe_commit@\");\n"
       @ONLY)
  add_executable(${name} ${ARGN} "${provenance}" $<TARGET_OBJECTS:lmms_runtime>)
  target_link_libraries(${name} PRIVATE lmms::lmms)
  target_precompile_headers(${name} REUSE_FROM lmms_pch)
  set_source_files_properties("${provenance}" PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${LMMS_BIN_DIR}")
endfunction()
