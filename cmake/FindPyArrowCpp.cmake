# Finds the Arrow C++ and Arrow Flight libraries bundled in a pyarrow wheel.
#
# Used when no system or conda Arrow (ArrowConfig.cmake) is found. The wheel
# ships headers (pyarrow.get_include()) and versioned shared libraries
# (pyarrow.get_library_dirs()); scripts/bootstrap creates the unversioned
# symlinks with pyarrow.create_library_symlinks().
#
# Input:  PYARROW_PYTHON  - the Python interpreter that has pyarrow installed.
# Output: imported targets PyArrow::arrow, PyArrow::arrow_flight, PyArrow::parquet,
#         PyArrowCpp_FOUND, PyArrowCpp_VERSION.

if(NOT PYARROW_PYTHON)
  message(FATAL_ERROR "PYARROW_PYTHON is not set")
endif()

execute_process(
  COMMAND "${PYARROW_PYTHON}" -c
          "import pyarrow as pa; print(pa.get_include()); print(pa.get_library_dirs()[0]); print(pa.__version__)"
  OUTPUT_VARIABLE _pyarrow_out
  RESULT_VARIABLE _pyarrow_rc
  OUTPUT_STRIP_TRAILING_WHITESPACE)

if(NOT _pyarrow_rc EQUAL 0)
  set(PyArrowCpp_FOUND FALSE)
  if(PyArrowCpp_FIND_REQUIRED)
    message(FATAL_ERROR "pyarrow is not importable by ${PYARROW_PYTHON}; run scripts/bootstrap")
  endif()
  return()
endif()

string(REPLACE "\n" ";" _pyarrow_lines "${_pyarrow_out}")
list(GET _pyarrow_lines 0 PyArrowCpp_INCLUDE_DIR)
list(GET _pyarrow_lines 1 PyArrowCpp_LIBRARY_DIR)
list(GET _pyarrow_lines 2 PyArrowCpp_VERSION)

find_library(PyArrowCpp_ARROW_LIBRARY NAMES arrow PATHS "${PyArrowCpp_LIBRARY_DIR}" NO_DEFAULT_PATH)
find_library(PyArrowCpp_FLIGHT_LIBRARY NAMES arrow_flight PATHS "${PyArrowCpp_LIBRARY_DIR}" NO_DEFAULT_PATH)
find_library(PyArrowCpp_PARQUET_LIBRARY NAMES parquet PATHS "${PyArrowCpp_LIBRARY_DIR}" NO_DEFAULT_PATH)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(PyArrowCpp
  REQUIRED_VARS PyArrowCpp_ARROW_LIBRARY PyArrowCpp_FLIGHT_LIBRARY PyArrowCpp_PARQUET_LIBRARY
                PyArrowCpp_INCLUDE_DIR
  VERSION_VAR PyArrowCpp_VERSION)

if(PyArrowCpp_FOUND AND NOT TARGET PyArrow::arrow)
  add_library(PyArrow::arrow SHARED IMPORTED)
  set_target_properties(PyArrow::arrow PROPERTIES
    IMPORTED_LOCATION "${PyArrowCpp_ARROW_LIBRARY}"
    INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${PyArrowCpp_INCLUDE_DIR}"
    INTERFACE_INCLUDE_DIRECTORIES "${PyArrowCpp_INCLUDE_DIR}")
  add_library(PyArrow::arrow_flight SHARED IMPORTED)
  set_target_properties(PyArrow::arrow_flight PROPERTIES
    IMPORTED_LOCATION "${PyArrowCpp_FLIGHT_LIBRARY}"
    INTERFACE_LINK_LIBRARIES PyArrow::arrow)
  add_library(PyArrow::parquet SHARED IMPORTED)
  set_target_properties(PyArrow::parquet PROPERTIES
    IMPORTED_LOCATION "${PyArrowCpp_PARQUET_LIBRARY}"
    INTERFACE_LINK_LIBRARIES PyArrow::arrow)
endif()
