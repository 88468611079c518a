# Writes fleetps.service for the prefix being installed to (install(SCRIPT), deploy/CMakeLists.txt
# sets the FLEETPS_* variables). /usr puts the config in /etc, as GNUInstallDirs does.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(FLEETPS_SYSCONFDIR "/etc")
else()
  set(FLEETPS_SYSCONFDIR "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(FLEETPS_BINDIR "${CMAKE_INSTALL_PREFIX}/${FLEETPS_INSTALL_BINDIR}")
set(FLEETPS_DOCDIR "${CMAKE_INSTALL_PREFIX}/${FLEETPS_INSTALL_DOCDIR}")
set(FLEETPS_CONFIG "${FLEETPS_SYSCONFDIR}/fleetps/fleetps.yaml")
configure_file("${FLEETPS_UNIT_TEMPLATE}" "${FLEETPS_UNIT_OUTPUT}" @ONLY)
if(IS_ABSOLUTE "${FLEETPS_SYSTEMD_UNITDIR}")
  set(unit_dir "${FLEETPS_SYSTEMD_UNITDIR}")
else()
  set(unit_dir "${CMAKE_INSTALL_PREFIX}/${FLEETPS_SYSTEMD_UNITDIR}")
endif()
file(INSTALL "${FLEETPS_UNIT_OUTPUT}" DESTINATION "${unit_dir}")  # file(INSTALL) prepends DESTDIR
