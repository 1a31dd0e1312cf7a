# Sourced by the bench scripts (from the project root): sets FRUGAL to the
# frugal program. FRUGAL=path in the environment runs an already built binary;
# otherwise build/frugal is configured (Release) and brought up to date.
if [[ -z ${FRUGAL:-} ]]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build build --target frugal_cli -j "$(nproc)" > /dev/null
  FRUGAL=./build/frugal
fi
