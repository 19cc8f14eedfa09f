# Windows: build the app folder and a zip (run in PowerShell from the repository root).
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1
# Steps: 1) a venv with the app and PyInstaller  2) PyInstaller with the shared spec
#        3) the bundle's own self-test  4) a zip of the app folder (an installer can wrap it).
$ErrorActionPreference = "Stop"
py -3.11 -m explorer.bootstrap --version
.venv\Scripts\python.exe -m pip install "pyinstaller>=6"
.venv\Scripts\python.exe -m PyInstaller --noconfirm --clean --distpath dist --workpath build\pyinstaller packaging\explorer.spec
$env:QT_QPA_PLATFORM = "offscreen"
dist\cnn-feature-explorer\cnn-feature-explorer.exe --self-test --report dist\self-test.json --screenshot dist\self-test.png
if ($LASTEXITCODE -ne 0) { throw "self-test failed: see dist\self-test.json" }
Compress-Archive -Path dist\cnn-feature-explorer -DestinationPath dist\cnn-feature-explorer-windows-x64.zip -Force
