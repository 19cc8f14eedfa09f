; The Windows installer: the PyInstaller app folder in Program Files, a Start-menu entry with the app's icon,
; an uninstaller (also in Settings > Apps), no console window.
;   makensis /DVERSION=0.1.0 /DAPP_DIR=dist\cnn-feature-explorer /DOUT=dist\cnn-feature-explorer-0.1.0-windows-x64-setup.exe packaging\windows\installer.nsi
; (makensis also runs on Linux: apt-get install nsis; the paths then use /.)
; Silent install for tests: SETUP.exe /S /D=C:\path  (the /D= path last, unquoted).
; APP_DIR is either layout: PyInstaller's (build.ps1, on Windows) or Python's embeddable distribution with
; the wheels unpacked (assemble.py, on any system: build_on_linux.sh).
; /DTARGET=amd64-unicode makes a 64-bit installer (NSIS built with 64-bit stubs, as Debian's is), so that
; 64-bit Wine can run it; the default is NSIS's 32-bit stub, which every NSIS has.
!ifdef TARGET
  Target ${TARGET}
!else
  Unicode true
!endif
SetCompressor /SOLID lzma
RequestExecutionLevel admin
!include "MUI2.nsh"
!ifndef VERSION
  !define VERSION "0.1.0"
!endif
!ifndef APP_DIR
  !error "define APP_DIR: the PyInstaller app folder"
!endif
!ifndef OUT
  !define OUT "cnn-feature-explorer-${VERSION}-windows-x64-setup.exe"
!endif
!ifndef ICON
  !error "define ICON: the .ico from packaging/make_icons.py"
!endif
!define NAME "CNN Feature Explorer"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\cnn-feature-explorer"

Name "${NAME} ${VERSION}"
OutFile "${OUT}"
InstallDir "$PROGRAMFILES64\${NAME}"
InstallDirRegKey HKLM "${UNINST_KEY}" "InstallLocation"
!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_FINISHPAGE_RUN "$INSTDIR\cnn-feature-explorer.exe"
!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Section "Install"
  SetShellVarContext all
  SetOutPath "$INSTDIR"
  File /r "${APP_DIR}\*"
  File "/oname=$INSTDIR\explorer.ico" "${ICON}"
  CreateShortcut "$SMPROGRAMS\${NAME}.lnk" "$INSTDIR\cnn-feature-explorer.exe" "" "$INSTDIR\explorer.ico"
  WriteUninstaller "$INSTDIR\uninstall.exe"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayName" "${NAME}"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\explorer.ico"
  WriteRegStr HKLM "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegStr HKLM "${UNINST_KEY}" "Publisher" "CNN Feature Explorer team"
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoRepair" 1
SectionEnd

Section "Uninstall"
  SetShellVarContext all
  Delete "$SMPROGRAMS\${NAME}.lnk"
  RMDir /r "$INSTDIR\_internal"
  RMDir /r "$INSTDIR\Python"
  RMDir /r "$INSTDIR\pkgs"
  Delete "$INSTDIR\cnn-feature-explorer.exe"
  Delete "$INSTDIR\cnn-feature-explorer-cli.exe"
  Delete "$INSTDIR\explorer.ico"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  DeleteRegKey HKLM "${UNINST_KEY}"
SectionEnd
